package redisstore

// Decode exposes the record decoder to the fuzz test.
var Decode = decode
