module github.com/enrollkit/enrollkit/bench/server

go 1.26.0

require (
	github.com/enrollkit/enrollkit v0.0.0
	github.com/jackc/pgx/v5 v5.12.0
	howett.net/plist v1.0.1
)

require (
	filippo.io/edwards25519 v1.1.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/go-sql-driver/mysql v1.8.1 // indirect
	github.com/google/btree v1.0.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/lib/pq v1.10.9 // indirect
	github.com/micromdm/nanolib v0.5.0 // indirect
	github.com/micromdm/nanomdm v0.9.0 // indirect
	github.com/micromdm/plist v0.2.1 // indirect
	github.com/peterbourgon/diskv/v3 v3.0.1 // indirect
	github.com/smallstep/pkcs7 v0.2.1 // indirect
	github.com/smallstep/scep v0.0.0-20241223071629-a37a330173bc // indirect
	go.mozilla.org/pkcs7 v0.10.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)

tool github.com/micromdm/nanomdm/cmd/nanomdm

replace github.com/enrollkit/enrollkit => ../..
