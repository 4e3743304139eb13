package sqlstore

// DecodeResponse is decodeResponse, for the fuzz test.
var DecodeResponse = decodeResponse

// EncodeHeader is encodeHeader, for the fuzz test.
var EncodeHeader = encodeHeader
