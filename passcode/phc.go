package passcode

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. The zero value of each field means its
// default (see [DefaultParams]).
type Params struct {
	// Memory is the memory cost in KiB (argon2 "m"), 8×Parallelism to
	// MaxMemory.
	Memory uint32
	// Iterations is the number of passes over the memory (argon2 "t"),
	// 1 to MaxIterations.
	Iterations uint32
	// Parallelism is the number of lanes (argon2 "p"), 1 to 255.
	Parallelism uint8
	// SaltLength is the length in bytes of the random salt, 8 to 64.
	SaltLength uint32
	// KeyLength is the length in bytes of the derived hash, 16 to 64.
	KeyLength uint32
}

// Limits on the parameters a hash may carry. They keep a corrupted or hostile
// stored hash from making verification allocate gigabytes or run for minutes.
const (
	MaxMemory     = 1 << 20 // KiB: 1 GiB
	MaxIterations = 64
)

const (
	minSalt, maxSalt = 8, 64
	minKey, maxKey   = 16, 64
)

// DefaultParams returns the parameters used when Params fields are zero:
// 19 MiB of memory, 2 iterations, 1 lane, a 16-byte salt and a 32-byte hash,
// which is the first of OWASP's recommended argon2id configurations.
//
// Why these: the secret is a short one-time code, so online its protection
// is the attempt limit (5 tries at an 8-digit code succeed with probability
// 5 in 10⁸, whatever the hash costs), and the hash matters only offline,
// after a database leak. One verification costs about 18 ms of one core and
// 19 MiB (BenchmarkVerify on a 2-core Xeon), so exhausting the 10⁸ 8-digit
// codes costs some 500 core-hours per passcode, five hours on a hundred
// cores: that buys time, not safety. The real defence of a leaked digit code
// is that it is void after 72 hours or its first use; a portal that fears
// leaks should use the Unambiguous alphabet (2⁴⁰ codes of 8 characters, out
// of reach at this cost). On the portal side the same cost allows about 55
// verifications per second per core, far above the enrollment rate of any
// workforce, and a burst of guesses cannot take more than one 19 MiB buffer
// per core, because verifications beyond the number of cores queue. Raising
// the cost would not change the offline picture for 8-digit codes and would
// cut the portal's headroom; lowering it would fall below OWASP's minimum.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	if p.SaltLength == 0 {
		p.SaltLength = d.SaltLength
	}
	if p.KeyLength == 0 {
		p.KeyLength = d.KeyLength
	}
	return p
}

func (p Params) validate() error {
	switch {
	case p.Parallelism < 1:
		return fmt.Errorf("%w: parallelism %d, want 1..255", ErrInvalidParams, p.Parallelism)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB, want %d..%d", ErrInvalidParams, p.Memory, 8*uint32(p.Parallelism), MaxMemory)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("%w: iterations %d, want 1..%d", ErrInvalidParams, p.Iterations, MaxIterations)
	case p.SaltLength < minSalt || p.SaltLength > maxSalt:
		return fmt.Errorf("%w: salt length %d, want %d..%d", ErrInvalidParams, p.SaltLength, minSalt, maxSalt)
	case p.KeyLength < minKey || p.KeyLength > maxKey:
		return fmt.Errorf("%w: key length %d, want %d..%d", ErrInvalidParams, p.KeyLength, minKey, maxKey)
	}
	return nil
}

// PHC is a parsed argon2id hash string.
type PHC struct {
	// Memory, Iterations and Parallelism are the argon2id parameters the
	// hash was made with.
	Memory      uint32
	Iterations  uint32
	Parallelism uint8
	// Salt is the random salt.
	Salt []byte
	// Key is the derived hash.
	Key []byte
}

// Params returns the parameters the hash was made with, including the salt
// and key lengths.
func (h PHC) Params() Params {
	return Params{
		Memory:      h.Memory,
		Iterations:  h.Iterations,
		Parallelism: h.Parallelism,
		SaltLength:  uint32(len(h.Salt)),
		KeyLength:   uint32(len(h.Key)),
	}
}

// String returns the PHC string form,
// "$argon2id$v=19$m=<memory>,t=<iterations>,p=<parallelism>$<salt>$<key>",
// with salt and key in unpadded standard base64. ParsePHC(h.String())
// returns h.
func (h PHC) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Memory, h.Iterations, h.Parallelism, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

var b64 = base64.RawStdEncoding.Strict()

// ParsePHC parses an argon2id hash in PHC string form. It accepts exactly the
// canonical form that [PHC.String] writes: version 19, the parameters m, t, p
// in that order as decimal numbers without leading zeros, and salt and hash
// in unpadded standard base64 within the lengths [Params] allows. Anything
// else is a [*MalformedHashError].
func ParsePHC(s string) (PHC, error) {
	var h PHC
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return h, malformed("missing leading $", nil)
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 5 {
		return h, malformed(fmt.Sprintf("%d fields, want 5", len(fields)), nil)
	}
	if fields[0] != "argon2id" {
		return h, malformed("algorithm is not argon2id", nil)
	}
	v, ok := strings.CutPrefix(fields[1], "v=")
	if !ok {
		return h, malformed("missing version", nil)
	}
	if n, err := parseDecimal(v, 32); err != nil {
		return h, malformed("version", err)
	} else if n != argon2.Version {
		return h, malformed(fmt.Sprintf("version %d, want %d", n, argon2.Version), nil)
	}

	params := strings.Split(fields[2], ",")
	if len(params) != 3 {
		return h, malformed(fmt.Sprintf("%d parameters, want m, t, p", len(params)), nil)
	}
	var nums [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		val, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return h, malformed(fmt.Sprintf("parameter %d is not %s", i+1, name[:1]), nil)
		}
		bits := 32
		if name == "p=" {
			bits = 8
		}
		n, err := parseDecimal(val, bits)
		if err != nil {
			return h, malformed("parameter "+name[:1], err)
		}
		nums[i] = n
	}
	h.Memory, h.Iterations, h.Parallelism = uint32(nums[0]), uint32(nums[1]), uint8(nums[2])

	// The decoder skips CR and LF; a canonical string has none.
	if strings.ContainsAny(fields[3], "\r\n") || strings.ContainsAny(fields[4], "\r\n") {
		return PHC{}, malformed("line break in salt or hash", nil)
	}
	var err error
	if h.Salt, err = b64.DecodeString(fields[3]); err != nil {
		return PHC{}, malformed("salt", err)
	}
	if h.Key, err = b64.DecodeString(fields[4]); err != nil {
		return PHC{}, malformed("hash", err)
	}
	if err := h.Params().validate(); err != nil {
		return PHC{}, malformed("parameters out of range", err)
	}
	return h, nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no sign, no
// leading zero (except "0" itself).
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a canonical decimal number", s)
	}
	return strconv.ParseUint(s, 10, bits)
}

// Hash normalises code (see [Normalize]) and returns its argon2id hash in
// PHC string form with a fresh random salt, using p (zero fields take their
// defaults).
func Hash(code string, p Params) (string, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passcode: reading salt: %w", err)
	}
	h := PHC{Memory: p.Memory, Iterations: p.Iterations, Parallelism: p.Parallelism, Salt: salt}
	h.Key = derive(Normalize(code), h, p.KeyLength)
	return h.String(), nil
}

// Verify reports whether code, once normalised, matches the PHC hash
// encoded: nil if it does, [ErrMismatch] if not, or a [*MalformedHashError]
// if encoded cannot be parsed. The comparison of the derived keys takes
// constant time.
func Verify(encoded, code string) error {
	h, err := ParsePHC(encoded)
	if err != nil {
		return err
	}
	if !h.matches(Normalize(code)) {
		return ErrMismatch
	}
	return nil
}

func (h PHC) matches(normalized string) bool {
	got := derive(normalized, h, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(got, h.Key) == 1
}

// NeedsRehash reports whether the hash encoded was made with parameters other
// than p (zero fields take their defaults), so that a caller who holds the
// plain code — right after a successful check — may hash it again. A salt
// shorter than p.SaltLength counts as a difference; a longer one does not.
func NeedsRehash(encoded string, p Params) (bool, error) {
	h, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	p = p.withDefaults()
	got := h.Params()
	return got.Memory != p.Memory || got.Iterations != p.Iterations ||
		got.Parallelism != p.Parallelism || got.KeyLength != p.KeyLength ||
		got.SaltLength < p.SaltLength, nil
}

// hashSlots bounds how many argon2id computations run at once in this
// process. Each holds its Memory parameter (19 MiB by default) for its whole
// run and, with one lane, keeps one core busy; running more at a time than
// there are cores adds no throughput, only memory. Waiting callers queue.
var hashSlots = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))

func derive(normalized string, h PHC, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(normalized), h.Salt, h.Iterations, h.Memory, h.Parallelism, keyLen)
}
