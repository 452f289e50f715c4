package mdm_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// markingStore is a Store whose MarkTokenDead fails when fail is set, and
// like a database refuses to work for a cancelled context.
type markingStore struct {
	mdm.Store
	fail bool
}

var errMarkFailed = errors.New("disk full")

func (s markingStore) MarkTokenDead(ctx context.Context, id mdm.EnrollmentID, token []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.fail {
		return errMarkFailed
	}
	return s.Store.MarkTokenDead(ctx, id, token)
}

// TestPushWholeCallFailure checks that results a Pusher returns together
// with an error are acted on (dead tokens marked) before the error is
// returned, from Push and from Enqueue, and that the Service does not log
// the per device failures the Pusher reports.
func TestPushWholeCallFailure(t *testing.T) {
	errCall := errors.New("push connection lost")
	tests := []struct {
		name     string
		enqueue  bool  // call Enqueue instead of Push
		callErr  error // what the Pusher returns besides the results
		failMark bool  // MarkTokenDead fails
		wantErr  []error
		dead     bool // whether UE-GONE's token ends up dead
	}{
		{name: "Push", callErr: errCall, wantErr: []error{mdm.ErrPushFailed, errCall}, dead: true},
		{name: "Enqueue", enqueue: true, callErr: errCall, wantErr: []error{mdm.ErrPushFailed, errCall}, dead: true},
		{name: "MarkTokenDead fails", callErr: errCall, failMark: true, wantErr: []error{mdm.ErrPushFailed, errCall, errMarkFailed}},
		{name: "per device failure only", dead: true},
		{name: "MarkTokenDead fails alone", failMark: true, wantErr: []error{errMarkFailed}},
		{name: "Enqueue, MarkTokenDead fails alone", enqueue: true, failMark: true, wantErr: []error{mdm.ErrPushFailed, errMarkFailed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pusher := mdm.PusherFunc(func(_ context.Context, ts []mdm.PushTarget) ([]mdm.PushResult, error) {
				cancel() // the caller's context ends while the pushes are out
				out := make([]mdm.PushResult, len(ts))
				for i, tg := range ts {
					out[i].EnrollmentID = tg.EnrollmentID
					if tg.EnrollmentID == "UE-GONE" {
						out[i].Err = fmt.Errorf("410 Unregistered: %w", mdm.ErrPushTokenDead)
					}
				}
				return out, tc.callErr
			})
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := newHarness(t, func(o *mdm.Config) { o.Pusher, o.Logger = nil, logger })
			gone, live := ueDevice(t, h, "UE-GONE", 1), ueDevice(t, h, "UE-LIVE", 2)
			h.enroll(gone)
			h.enroll(live)
			svc, err := mdm.NewService(markingStore{h.store, tc.failMark}, mdm.Config{Roots: []*x509.Certificate{h.ca.cert}, Prechecker: mdm.NoPrechecker, Pusher: pusher, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			logs.Reset()

			var res []mdm.PushResult
			if tc.enqueue {
				c, _ := mdm.NewCommand("c-queued", map[string]any{"RequestType": "ProfileList"})
				res, err = svc.Enqueue(ctx, c, "UE-GONE", "UE-LIVE")
			} else {
				res, err = svc.Push(ctx, "UE-GONE", "UE-LIVE")
			}
			if len(tc.wantErr) == 0 && err != nil {
				t.Errorf("error = %v, want nil", err)
			}
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("error %v does not match %v", err, want)
				}
			}
			if len(res) != 2 || !errors.Is(res[0].Err, mdm.ErrPushTokenDead) || res[1].Err != nil {
				t.Errorf("results = %+v, want both, the first dead", res)
			}
			for id, want := range map[mdm.EnrollmentID]bool{"UE-GONE": tc.dead, "UE-LIVE": false} {
				if rec, _ := h.svc.Enrollment(context.Background(), id); rec.TokenDead != want {
					t.Errorf("%s: TokenDead = %v, want %v", id, rec.TokenDead, want)
				}
			}
			// Failed pushes are logged once, by the Pusher.
			if strings.Contains(logs.String(), "push") {
				t.Errorf("the Service logged push failures again:\n%s", logs.String())
			}
			if tc.enqueue { // the command is queued although the push failed
				live.wantPoll(t, h.svc, mdm.StatusIdle, "", "c-queued")
			}
		})
	}
}

// TestLogKeys pins the attribute keys of the Service's log records.
func TestLogKeys(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, func(o *mdm.Config) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	d := ueDevice(t, h, "UE-K", 1)
	h.enroll(d)
	c, _ := mdm.NewCommand("k1", map[string]any{"RequestType": "ProfileList"})
	if _, err := h.svc.Enqueue(context.Background(), c, "UE-K"); err != nil {
		t.Fatal(err)
	}
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "nope", "k1")
	send(h.svc, mdm.ContentTypeCheckin, d.tokenUpdate("AQI="), nil) // unsigned
	for _, want := range []string{
		`level=INFO msg="mdm: check-in" message_type=Authenticate enrollment=UE-K enrollment_type=`,
		`level=INFO msg="mdm: command queued" command_uuid=k1 request_type=ProfileList enrollments=1`,
		`level=WARN msg="mdm: result for a command not pending" enrollment=UE-K command_uuid=nope command_status=Acknowledged`,
		`level=INFO msg="mdm: request refused" status=401 err=`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// readCountingStore counts the reads of enrollment records.
type readCountingStore struct {
	mdm.Store
	single, batches, records int
}

func (s *readCountingStore) Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	s.single++
	return s.Store.Enrollment(ctx, id)
}

func (s *readCountingStore) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	s.batches++
	s.records += len(ids)
	return s.Store.Enrollments(ctx, ids)
}

// TestEnqueueReadsRecordsOnce checks that a command for several
// enrollments reads their records in one batch, used both for the policy
// check and for the push, and that Push on its own reads them in one batch
// too.
func TestEnqueueReadsRecordsOnce(t *testing.T) {
	ids := []mdm.EnrollmentID{"UE-A", "UE-B", "UE-C"}
	tests := []struct {
		name    string
		enqueue bool
	}{{"Enqueue", true}, {"Push", false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(o *mdm.Config) { o.Pusher = nil })
			for i, id := range ids {
				h.enroll(ueDevice(t, h, string(id), i+1))
			}
			var pushed []string
			pusher := mdm.PusherFunc(func(_ context.Context, ts []mdm.PushTarget) ([]mdm.PushResult, error) {
				out := make([]mdm.PushResult, len(ts))
				for i, tg := range ts {
					pushed = append(pushed, tg.EnrollmentID)
					out[i].EnrollmentID = tg.EnrollmentID
				}
				return out, nil
			})
			store := &readCountingStore{Store: h.store}
			svc, err := mdm.NewService(store, mdm.Config{Roots: []*x509.Certificate{h.ca.cert}, Prechecker: mdm.NoPrechecker, Pusher: pusher})
			if err != nil {
				t.Fatal(err)
			}
			if tc.enqueue {
				c, _ := mdm.NewCommand("c-many", map[string]any{"RequestType": "ProfileList"})
				_, err = svc.Enqueue(context.Background(), c, ids...)
			} else {
				_, err = svc.Push(context.Background(), ids...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if store.single != 0 || store.batches != 1 || store.records != len(ids) {
				t.Errorf("records read: %d single, %d batches of %d in all; want one batch of %d", store.single, store.batches, store.records, len(ids))
			}
			if len(pushed) != len(ids) {
				t.Errorf("pushed %v, want %v", pushed, ids)
			}
		})
	}
}
