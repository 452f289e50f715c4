package profile

import "github.com/enrollkit/enrollkit/internal/ber"

// maxBERDepth bounds the nesting of a CMS structure. A signed profile
// nests about a dozen levels deep, certificates included; hostile input
// could otherwise nest thousands of levels into recursive decoders.
const maxBERDepth = 64

// errBERDepth is what normalizeBER's error wraps for nesting beyond
// maxBERDepth.
var errBERDepth = ber.ErrTooDeep

// normalizeBER rewrites a BER-encoded structure with DER lengths:
// indefinite lengths become definite and constructed OCTET STRINGs (the
// chunks a streaming signer such as openssl cms -stream writes for the
// encapsulated content) become one primitive OCTET STRING. The CMS library
// would otherwise keep only the first chunk and report a digest mismatch
// for any profile larger than one chunk. Nesting is bounded by
// maxBERDepth, and the input must be exactly one element; Parse has
// already bounded its size.
func normalizeBER(data []byte) ([]byte, error) {
	return ber.ToDER(data, ber.Limits{MaxDepth: maxBERDepth})
}
