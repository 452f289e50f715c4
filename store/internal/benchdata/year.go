package benchdata

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// Months is how many rounds Year simulates, one a month.
const Months = 12

// ChurnPerMonth is how many devices leave each month in Year (2 %), each
// replaced by a newly enrolled one.
const ChurnPerMonth = Devices / 50

// InfoResult is the body of a typical command result: a DeviceInformation
// answer from an iPhone under User Enrollment (about 700 bytes), the
// result Year stores for every device every month.
var InfoResult = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CommandUUID</key>
	<string>%s</string>
	<key>EnrollmentID</key>
	<string>%s</string>
	<key>QueryResponses</key>
	<dict>
		<key>BuildVersion</key>
		<string>21G80</string>
		<key>DeviceName</key>
		<string>iPhone</string>
		<key>IsSupervised</key>
		<false/>
		<key>Model</key>
		<string>MTLW3LL/A</string>
		<key>ModelName</key>
		<string>iPhone</string>
		<key>OSVersion</key>
		<string>17.6</string>
		<key>ProductName</key>
		<string>iPhone15,2</string>
		<key>EASDeviceIdentifier</key>
		<string>9F3A6C1E2B7D4E8FA1C0B9D8E7F6A5B4</string>
	</dict>
	<key>Status</key>
	<string>Acknowledged</string>
</dict>
</plist>
`)

// YearStore is what Year needs of a database beyond its two stores.
type YearStore struct {
	// Ack stores, in one transaction with the store's own statement, the
	// Acknowledged result of command uuid from every one of ids, received
	// at at (what the devices' answers would store one by one).
	Ack func(ctx context.Context, uuid string, ids []mdm.EnrollmentID, at time.Time) error
	// Size returns the database's size in bytes.
	Size func(ctx context.Context) (int64, error)
}

// Years is the body of each durable store's BenchmarkYear: Year without
// and with pruning, each on a database seed returns, seeded with Devices
// enrolled devices.
func Years(b *testing.B, seed func(b *testing.B) (enroll.Store, mdm.Store, YearStore)) {
	for _, prune := range []bool{false, true} {
		name := "NoPruning"
		if prune {
			name = "Pruning"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				es, ms, y := seed(b)
				b.StartTimer()
				Year(b, es, ms, y, prune)
			}
		})
	}
}

// Year simulates a year of Devices enrolled devices on es and ms, seeded
// with them, and reports the database bytes per enrolled device before
// (start-bytes/device), after six months (half-year-bytes/device), after
// the year (year-bytes/device) and at the largest (peak-bytes/device).
// Every month each
// device answers one command with an InfoResult, and ChurnPerMonth devices
// check out (their enrollment Removed, their MDM record checked out) and
// as many new ones enroll. With prune, every month first does what the
// sweeps do with the default retention (mdm.Retention, enroll.Retention).
func Year(b *testing.B, es enroll.Store, ms mdm.Store, y YearStore, prune bool) {
	b.Helper()
	ctx := context.Background()
	start, err := y.Size(ctx)
	if err != nil {
		b.Fatal(err)
	}
	live := make([]int, Devices)
	for i := range live {
		live[i] = i
	}
	next := Devices
	t0 := Start.Add(7 * 24 * time.Hour)
	peak, half := start, start
	for m := range Months {
		now := t0.Add(time.Duration(m) * 365 * 24 * time.Hour / Months)
		if prune {
			if err := Prune(ctx, es, ms, now); err != nil {
				b.Fatal(err)
			}
		}
		for k := range ChurnPerMonth {
			slot := (m*ChurnPerMonth + k) * 7919 % Devices
			if err := checkOut(ctx, es, ms, live[slot], now); err != nil {
				b.Fatal(err)
			}
			e, events, rec := Enrolled(next)
			if err := es.Create(ctx, e, events...); err != nil {
				b.Fatal(err)
			}
			if err := ms.PutEnrollment(ctx, rec); err != nil {
				b.Fatal(err)
			}
			live[slot] = next
			next++
		}
		ids := make([]mdm.EnrollmentID, len(live))
		for i, n := range live {
			ids[i] = DeviceID(n)
		}
		uuid := fmt.Sprintf("year-%02d-0b3e6c1a-4f2d-4e8a-9c7b", m)
		cmd, err := mdm.NewCommand(uuid, map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"OSVersion", "BuildVersion", "ModelName"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := ms.Enqueue(ctx, cmd, ids); err != nil {
			b.Fatal(err)
		}
		if err := y.Ack(ctx, uuid, ids, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		size, err := y.Size(ctx)
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, size)
		if m == Months/2-1 {
			half = size
		}
	}
	end, err := y.Size(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(start)/Devices, "start-bytes/device")
	b.ReportMetric(float64(end)/Devices, "year-bytes/device")
	b.ReportMetric(float64(peak)/Devices, "peak-bytes/device")
	b.ReportMetric(float64(half)/Devices, "half-year-bytes/device")
}

// Prune does what the sweeps of enroll and mdm do at now with the default
// retention: it calls the stores' Prune in batches until nothing is left.
func Prune(ctx context.Context, es enroll.Store, ms mdm.Store, now time.Time) error {
	for {
		n, err := ms.Prune(ctx, mdm.Retention{}.Cutoffs(now), mdm.SweepBatch)
		if err != nil {
			return err
		}
		if n < mdm.SweepBatch {
			break
		}
	}
	for {
		n, err := es.Prune(ctx, now.Add(-enroll.DefaultAuditRetention), enroll.PruneBatch)
		if err != nil {
			return err
		}
		if n < enroll.PruneBatch {
			return nil
		}
	}
}

// checkOut stores device i's CheckOut at now: its enrollment Removed (with
// the audit event) and its MDM record checked out.
func checkOut(ctx context.Context, es enroll.Store, ms mdm.Store, i int, now time.Time) error {
	e, err := es.Get(ctx, ID(i))
	if err != nil {
		return err
	}
	from := e.State
	e.State, e.UpdatedAt = enroll.StateRemoved, now
	ev := enroll.AuditEvent{EnrollmentID: e.ID, Time: now, Event: enroll.EventCheckOut, From: from, To: enroll.StateRemoved,
		Actor: string(DeviceID(i)), UserAgent: mdmUA}
	if err := es.Update(ctx, e, e.Version, ev); err != nil {
		return err
	}
	rec, err := ms.Enrollment(ctx, DeviceID(i))
	if err != nil {
		return err
	}
	rec.CheckedOut, rec.Enrolled, rec.UpdatedAt = true, false, now
	return ms.PutEnrollment(ctx, rec)
}

// Ack returns device id's Acknowledged result of command uuid, received
// at at, with an InfoResult body.
func Ack(uuid string, id mdm.EnrollmentID, at time.Time) *mdm.CommandResult {
	return &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: string(id)}, Status: mdm.StatusAcknowledged,
		CommandUUID: uuid, Raw: fmt.Appendf(nil, string(InfoResult), uuid, id), ReceivedAt: at}
}
