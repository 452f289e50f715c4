package passcode

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// cheap are parameters that keep tests fast; the code paths are the same as
// with the defaults.
var cheap = Params{Memory: 64, Iterations: 1, Parallelism: 1}

func TestHashRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{"cheap", cheap},
		{"two lanes", Params{Memory: 128, Iterations: 3, Parallelism: 2, SaltLength: 8, KeyLength: 16}},
		{"long salt and key", Params{Memory: 256, Iterations: 1, Parallelism: 4, SaltLength: 64, KeyLength: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := Hash("1234-5678", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ParsePHC(enc)
			if err != nil {
				t.Fatalf("ParsePHC(%q): %v", enc, err)
			}
			want := tt.p.withDefaults()
			if got := h.Params(); got != want {
				t.Errorf("Params() = %+v, want %+v", got, want)
			}
			if h.String() != enc {
				t.Errorf("String() = %q, want %q", h.String(), enc)
			}
			for _, in := range []string{"12345678", "1234 5678", " 1234-5678 "} {
				if err := Verify(enc, in); err != nil {
					t.Errorf("Verify(%q) = %v, want nil", in, err)
				}
			}
			for _, in := range []string{"12345679", "", "1234567", "123456789"} {
				if err := Verify(enc, in); !errors.Is(err, ErrMismatch) {
					t.Errorf("Verify(%q) = %v, want ErrMismatch", in, err)
				}
			}
		})
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	a, err := Hash("123456", cheap)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash("123456", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of the same code are equal: %q", a)
	}
}

// TestKnownVector pins the encoding to argon2id itself: the hash below was
// made independently (the argon2 reference command line tool:
// echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 32 -e).
func TestKnownVector(t *testing.T) {
	const enc = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	h, err := ParsePHC(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Salt, []byte("somesalt")) || h.Memory != 65536 || h.Iterations != 2 || h.Parallelism != 4 {
		t.Fatalf("parsed %+v", h)
	}
	// Normalize upper-cases, so check the raw derivation directly.
	if !h.matches("password") {
		t.Fatal("reference vector does not verify")
	}
	if h.matches("PASSWORD") {
		t.Fatal("wrong input verifies")
	}
}

func TestHashInvalidParams(t *testing.T) {
	tests := []Params{
		{Memory: 7, Iterations: 1, Parallelism: 1},
		{Memory: 15, Iterations: 1, Parallelism: 2},
		{Memory: MaxMemory + 1},
		{Iterations: MaxIterations + 1},
		{SaltLength: 7},
		{SaltLength: 65},
		{KeyLength: 15},
		{KeyLength: 65},
	}
	for _, p := range tests {
		if enc, err := Hash("1", p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Hash with %+v = %q, %v; want ErrInvalidParams", p, enc, err)
		}
	}
}

func TestParsePHCMalformed(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	ok := "$argon2id$v=19$m=65536,t=2,p=4$" + salt + "$" + key
	if _, err := ParsePHC(ok); err != nil {
		t.Fatalf("control string refused: %v", err)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no leading dollar", strings.TrimPrefix(ok, "$")},
		{"argon2i", strings.Replace(ok, "argon2id", "argon2i", 1)},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuu5J2Zy0jkL0Oa0sK4Fmk8H3hPf2lD4Ty"},
		{"no version", "$argon2id$m=65536,t=2,p=4$" + salt + "$" + key},
		{"version 16", strings.Replace(ok, "v=19", "v=16", 1)},
		{"version not a number", strings.Replace(ok, "v=19", "v=x", 1)},
		{"version leading zero", strings.Replace(ok, "v=19", "v=019", 1)},
		{"params reordered", strings.Replace(ok, "m=65536,t=2,p=4", "t=2,m=65536,p=4", 1)},
		{"param missing", strings.Replace(ok, "m=65536,t=2,p=4", "m=65536,t=2", 1)},
		{"extra param", strings.Replace(ok, "p=4", "p=4,keyid=x", 1)},
		{"empty param", strings.Replace(ok, "t=2", "t=", 1)},
		{"negative", strings.Replace(ok, "t=2", "t=-2", 1)},
		{"plus sign", strings.Replace(ok, "t=2", "t=+2", 1)},
		{"leading zero", strings.Replace(ok, "t=2", "t=02", 1)},
		{"parallelism over 255", strings.Replace(ok, "p=4", "p=256", 1)},
		{"memory over 32 bits", strings.Replace(ok, "m=65536", "m=4294967296", 1)},
		{"memory over limit", strings.Replace(ok, "m=65536", "m=1048577", 1)},
		{"memory under 8p", strings.Replace(ok, "m=65536", "m=31", 1)},
		{"zero iterations", strings.Replace(ok, "t=2", "t=0", 1)},
		{"too many iterations", strings.Replace(ok, "t=2", "t=65", 1)},
		{"zero parallelism", strings.Replace(ok, "p=4", "p=0", 1)},
		{"salt padded", strings.Replace(ok, salt, salt+"=", 1)},
		{"salt bad base64", strings.Replace(ok, salt, "c29t*XNhbHQ", 1)},
		{"salt url alphabet", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ_$" + key},
		{"salt non-canonical bits", strings.Replace(ok, salt, "c29tZXNhbHR", 1)},
		{"salt too short", strings.Replace(ok, salt, "c29tZQ", 1)},
		{"salt empty", strings.Replace(ok, salt, "", 1)},
		{"line break in salt", strings.Replace(ok, salt, salt[:4]+"\n"+salt[4:], 1)},
		{"carriage return in hash", strings.Replace(ok, key, key[:4]+"\r"+key[4:], 1)},
		{"hash bad base64", strings.Replace(ok, key, key[:len(key)-1]+"!", 1)},
		{"hash too short", strings.Replace(ok, key, "GpZ3sK/oH9p7VIiV", 1)},
		{"hash too long", strings.Replace(ok, key, key+key, 1)},
		{"missing hash", "$argon2id$v=19$m=65536,t=2,p=4$" + salt},
		{"trailing field", ok + "$"},
		{"whitespace", ok + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParsePHC(tt.in)
			if err == nil {
				t.Fatalf("ParsePHC(%q) = %+v, want an error", tt.in, h)
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("err = %v, want ErrMalformedHash", err)
			}
			var me *MalformedHashError
			if !errors.As(err, &me) || me.Reason == "" {
				t.Fatalf("err = %#v, want a *MalformedHashError with a reason", err)
			}
			if !strings.HasPrefix(err.Error(), "passcode: malformed hash: ") {
				t.Errorf("error text %q", err)
			}
			if h.Salt != nil || h.Key != nil {
				t.Errorf("partial result returned with error: %+v", h)
			}
			// Every entry point refuses it the same way.
			if err := Verify(tt.in, "1"); !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify: %v, want ErrMalformedHash", err)
			}
			if _, err := NeedsRehash(tt.in, Params{}); !errors.Is(err, ErrMalformedHash) {
				t.Errorf("NeedsRehash: %v, want ErrMalformedHash", err)
			}
		})
	}
}

func TestMalformedHashErrorUnwrap(t *testing.T) {
	_, err := ParsePHC("$argon2id$v=19$m=64,t=1,p=1$!!!!!!!!!!!$AAAAAAAAAAAAAAAAAAAAAA")
	var me *MalformedHashError
	if !errors.As(err, &me) || me.Err == nil {
		t.Fatalf("err = %v, want a base64 cause", err)
	}
	if !errors.Is(err, me.Err) {
		t.Error("cause is not reachable with errors.Is")
	}
	if !strings.Contains(err.Error(), me.Err.Error()) {
		t.Errorf("error text %q omits the cause", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	enc, err := Hash("12345678", Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    Params
		want bool
	}{
		{"same", Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, false},
		{"same, defaults implied", Params{Memory: 64}, false},
		{"shorter salt wanted", Params{Memory: 64, SaltLength: 8}, false},
		{"more memory", Params{Memory: 128}, true},
		{"defaults", Params{}, true},
		{"more iterations", Params{Memory: 64, Iterations: 3}, true},
		{"more lanes", Params{Memory: 64, Parallelism: 2}, true},
		{"longer salt", Params{Memory: 64, SaltLength: 32}, true},
		{"longer key", Params{Memory: 64, KeyLength: 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NeedsRehash(enc, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("NeedsRehash(%+v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	// OWASP's first argon2id configuration: m=19 MiB, t=2, p=1.
	if p.Memory < 19*1024 || p.Iterations < 2 || p.Parallelism != 1 {
		t.Errorf("DefaultParams() = %+v, below m=19 MiB, t=2, p=1", p)
	}
	if err := p.validate(); err != nil {
		t.Error(err)
	}
	if (Params{}).withDefaults() != p {
		t.Error("zero Params do not take the defaults")
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo")
	f.Add("$argon2id$v=19$m=0065536,t=2,p=4$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not match ErrMalformedHash", err)
			}
			return
		}
		// Accepted strings are canonical: they print back unchanged.
		if got := h.String(); got != s {
			t.Fatalf("ParsePHC(%q).String() = %q", s, got)
		}
		if err := h.Params().validate(); err != nil {
			t.Fatalf("accepted out-of-range parameters: %v", err)
		}
	})
}
