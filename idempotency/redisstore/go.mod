module github.com/rtchain/rtchain/idempotency/redisstore

go 1.25

replace github.com/rtchain/rtchain => ../..

require (
	github.com/hashicorp/go-cleanhttp v0.5.2
	github.com/redis/go-redis/v9 v9.22.0
	github.com/rtchain/rtchain v0.1.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.40.0 // indirect
	golang.org/x/time v0.14.0 // indirect
)
