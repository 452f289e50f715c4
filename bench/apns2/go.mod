module github.com/enrollkit/enrollkit/bench/apns2

go 1.26.0

require (
	github.com/enrollkit/enrollkit v0.0.0
	github.com/sideshow/apns2 v0.25.0
	golang.org/x/net v0.62.0
)

require (
	github.com/golang-jwt/jwt/v4 v4.4.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	howett.net/plist v1.0.1 // indirect
)

replace github.com/enrollkit/enrollkit => ../..
