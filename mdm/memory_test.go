package mdm_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// The bodies of the memory attack on the MDM endpoint, and the bounds a
// request must keep to. costPerByte is plistcheck.MaxCostPerByte, the most an
// accepted body may cost the plist decoder per byte.
const costPerByte = 48

// hostileFlatDicts is an XML command result for d, about size bytes, whose
// one dictionary holds a key per small empty dictionary: some 1.7 KB of
// decoder memory for each 20 bytes.
func hostileFlatDicts(d *device, size int) []byte {
	head := `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Status</key><string>Idle</string>` + d.idKeys()
	var b strings.Builder
	b.Grow(size + 64)
	b.WriteString(head)
	for i := 0; b.Len() < size-len("</dict></plist>"); i++ {
		b.WriteString("<key>")
		b.WriteString(strconv.Itoa(i))
		b.WriteString("</key><dict/>")
	}
	b.WriteString("</dict></plist>")
	return []byte(b.String())
}

// hostileBinary is a binary command result for d, about size bytes: an
// Idle poll with one more key, Pad, whose array refers n times either to one
// empty dictionary (shared) or to as many different ones. References and
// offsets are four bytes wide.
func hostileBinary(d *device, size int, shared bool) []byte {
	keys := map[string]string{"Status": "Idle"}
	if d.ident.EnrollmentID != "" {
		keys["EnrollmentID"] = d.ident.EnrollmentID
	} else {
		keys["UDID"] = d.ident.UDID
	}
	str := func(s string) []byte { return append([]byte{0x50 | byte(len(s))}, s...) } // len < 15
	u32 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }
	// Objects: 0 the top dictionary, then its keys and values, then Pad's
	// array, then the dictionaries it refers to.
	objs := [][]byte{nil}
	var krefs, vrefs []byte
	for k, v := range keys {
		krefs = u32(krefs, len(objs))
		objs = append(objs, str(k))
		vrefs = u32(vrefs, len(objs))
		objs = append(objs, str(v))
	}
	krefs = u32(krefs, len(objs))
	objs = append(objs, str("Pad"))
	vrefs = u32(vrefs, len(objs))
	arrAt := len(objs)
	objs = append(objs, nil)
	objs[0] = append(append([]byte{0xD0 | byte(len(keys)+1)}, krefs...), vrefs...)
	per := 4 // a reference
	if !shared {
		per += 1 + 4 // the dictionary and its offset
	}
	n := (size - 200) / per
	arr := u32([]byte{0xAF, 0x12}, n)
	for i := range n {
		if shared || i == 0 {
			arr = u32(arr, arrAt+1)
			if i == 0 {
				objs = append(objs, []byte{0xD0})
			}
			continue
		}
		arr = u32(arr, len(objs))
		objs = append(objs, []byte{0xD0})
	}
	objs[arrAt] = arr
	b := []byte("bplist00")
	offs := make([]byte, 0, 4*len(objs))
	for _, o := range objs {
		offs = u32(offs, len(b))
		b = append(b, o...)
	}
	table := len(b)
	b = append(b, offs...)
	var tr [32]byte
	tr[6], tr[7] = 4, 4
	binary.BigEndian.PutUint64(tr[8:], uint64(len(objs)))
	binary.BigEndian.PutUint64(tr[24:], uint64(table))
	return append(b, tr[:]...)
}

// memoryBodyBytes is the size of the hostile bodies: 4 MiB, or
// ENROLLKIT_MEMORY_BODY_MIB mebibytes (the attack used 16).
func memoryBodyBytes(t testing.TB) int {
	if v := os.Getenv("ENROLLKIT_MEMORY_BODY_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("ENROLLKIT_MEMORY_BODY_MIB=%q", v)
		}
		return n << 20
	}
	return 4 << 20
}

// vmHWM returns the process's peak resident memory in KiB from
// /proc/self/status, or -1 where there is none.
func vmHWM() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// TestMemoryHostileBodies sends the bodies of the memory attack through the
// whole handler, unsigned and signed by an enrolled device, and measures
// what each request allocates (runtime.MemStats.TotalAlloc, which bounds
// the peak it adds). A request without a trusted certificate costs at most
// 256 KiB whatever its size: its body is not read. One whose certificate
// chains to the roots but whose signature does not verify costs at most
// twice its body plus 256 KiB. An authenticated one is refused before
// decoding when its values are packed denser than devices write them, and
// otherwise costs at most costPerByte+4 times its size.
//
// Run one case alone to read the process's peak RSS too, for example:
//
//	ENROLLKIT_MEMORY_BODY_MIB=16 go test -count=1 -v -run 'TestMemoryHostileBodies/xml_unsigned$' ./mdm/
func TestMemoryHostileBodies(t *testing.T) {
	size := memoryBodyBytes(t)
	h := newHarness(t, func(o *mdm.Config) { o.MaxCommandBytes = int64(size) + 1<<20 })
	ue := ueDevice(t, h, "UE-MEM", 1)
	h.enroll(ue)
	stranger := newDevice(t, newCA(t, "Someone Else's CA", 3), ue.ident, 4)

	const slack = 256 << 10
	untrusted := func(int) uint64 { return slack }
	unauth := func(n int) uint64 { return 2*uint64(n) + slack }
	refusedAuth := func(n int) uint64 { return 3*uint64(n) + slack }
	acceptedAuth := func(n int) uint64 { return (costPerByte+4)*uint64(n) + slack }

	// Each case builds its body, so that a case run alone measures the
	// process's peak with one body in memory.
	// A device's certificate is no secret: it comes with every signature.
	// One signing other bytes gets the body read, and refused unverified.
	forger := &device{ident: ue.ident, cert: ue.cert, key: stranger.key}
	xml := func() []byte { return hostileFlatDicts(ue, size) }
	shared := func() []byte { return hostileBinary(ue, size, true) }
	distinct := func() []byte { return hostileBinary(ue, size, false) }
	for _, tc := range []struct {
		name    string
		build   func() []byte
		signer  *device
		chunked bool
		want    int
		bound   func(int) uint64
	}{
		{"xml unsigned", xml, nil, false, http.StatusUnauthorized, untrusted},
		{"xml unsigned chunked", xml, nil, true, http.StatusUnauthorized, untrusted},
		{"xml foreign signature", xml, stranger, false, http.StatusForbidden, untrusted},
		{"xml forged signature", xml, forger, false, http.StatusUnauthorized, unauth},
		{"xml forged signature chunked", xml, forger, true, http.StatusUnauthorized, unauth},
		{"xml signed", xml, ue, false, http.StatusBadRequest, refusedAuth},
		{"binary shared unsigned", shared, nil, false, http.StatusUnauthorized, untrusted},
		{"binary shared forged", shared, forger, false, http.StatusUnauthorized, unauth},
		{"binary shared signed", shared, ue, false, http.StatusBadRequest, refusedAuth},
		{"binary distinct unsigned", distinct, nil, false, http.StatusUnauthorized, untrusted},
		// Nine bytes a dictionary is within the cost bound: decoded, and
		// answered as the Idle poll it is.
		{"binary distinct signed", distinct, ue, false, http.StatusOK, acceptedAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.build()
			hdr := http.Header{"Content-Type": {mdm.ContentTypeCommand}}
			if tc.signer != nil {
				sig, err := mdm.Sign(body, tc.signer.cert, tc.signer.key, nil)
				if err != nil {
					t.Fatal(err)
				}
				hdr.Set("Mdm-Signature", sig)
			}
			r := httptest.NewRequest(http.MethodPut, "/mdm", struct{ io.Reader }{bytes.NewReader(body)})
			r.Header = hdr
			r.ContentLength = int64(len(body))
			if tc.chunked {
				r.ContentLength = -1
			}
			w := &discardWriter{h: http.Header{}}
			runtime.GC()
			hwm := vmHWM()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			h.svc.ServeHTTP(w, r)
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("%d-byte body: status %d, allocated %d bytes (%.1f× the body), heap in use after %d MiB; VmHWM %d → %d KiB",
				len(body), w.code, alloc, float64(alloc)/float64(len(body)), m1.HeapInuse>>20, hwm, vmHWM())
			if w.code != tc.want {
				t.Errorf("status %d, want %d", w.code, tc.want)
			}
			if bound := tc.bound(len(body)); alloc > bound {
				t.Errorf("allocated %s for a %s body, over the bound %s", mib(alloc), mib(uint64(len(body))), mib(bound))
			}
		})
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestMemoryUnderLoad replays the attack over HTTP: four clients send the
// unsigned flat-dictionary body back to back while an enrolled device
// polls Idle, for ENROLLKIT_MEMORY_LOAD_SECONDS seconds (skipped when
// unset). It reports the process's peak RSS and the Idle poll's median
// latency, and fails if the median is over 20 ms:
//
//	ENROLLKIT_MEMORY_LOAD_SECONDS=10 ENROLLKIT_MEMORY_BODY_MIB=16 go test -count=1 -v -run TestMemoryUnderLoad ./mdm/
func TestMemoryUnderLoad(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("ENROLLKIT_MEMORY_LOAD_SECONDS"))
	if secs <= 0 {
		t.Skip("set ENROLLKIT_MEMORY_LOAD_SECONDS to run")
	}
	size := memoryBodyBytes(t)
	h := newHarness(t, func(o *mdm.Config) { o.MaxCommandBytes = int64(size) + 1<<20 })
	ue := ueDevice(t, h, "UE-LOAD", 1)
	h.enroll(ue)
	srv := httptest.NewServer(h.svc)
	defer srv.Close()
	body := hostileFlatDicts(ue, size)
	idle := ue.status(mdm.StatusIdle, "")
	idleSig, err := mdm.Sign(idle, ue.cert, ue.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(b []byte, sig string) (int, error) {
		r, err := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		r.Header.Set("Content-Type", mdm.ContentTypeCommand)
		if sig != "" {
			r.Header.Set("Mdm-Signature", sig)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	hwm0 := vmHWM()
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	var attacks atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if code, err := put(body, ""); err != nil || code != http.StatusUnauthorized {
					t.Errorf("attack: %d, %v", code, err)
					return
				}
				attacks.Add(1)
			}
		}()
	}
	var lat []time.Duration
	for time.Now().Before(deadline) {
		start := time.Now()
		if code, err := put(idle, idleSig); err != nil || code != http.StatusOK {
			t.Fatalf("Idle poll: %d, %v", code, err)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	slices.Sort(lat)
	median := lat[len(lat)/2]
	t.Logf("%d s, 4 clients, %d hostile %d-byte requests: VmHWM %d → %d KiB; %d Idle polls, median %v, max %v",
		secs, attacks.Load(), len(body), hwm0, vmHWM(), len(lat), median, lat[len(lat)-1])
	if median > 20*time.Millisecond {
		t.Errorf("Idle poll median %v under attack", median)
	}
}
