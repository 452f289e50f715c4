package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr bool
	}{
		{
			name: "ordered",
			files: fstest.MapFS{
				"m/0002_b.sql":  {Data: []byte("B")},
				"m/0001_a.sql":  {Data: []byte("A")},
				"m/README.md":   {Data: []byte("ignored")},
				"m/0003_c.sql":  {Data: []byte("C")},
				"m/sub/0004.sq": {Data: []byte("ignored")},
			},
			want: []int{1, 2, 3},
		},
		{name: "gap", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, wantErr: true},
		{name: "duplicate", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0001_b.sql": {}}, wantErr: true},
		{name: "bad name", files: fstest.MapFS{"m/first.sql": {}}, wantErr: true},
		{name: "bad number", files: fstest.MapFS{"m/x1_a.sql": {}}, wantErr: true},
		{name: "zero", files: fstest.MapFS{"m/0000_a.sql": {}}, wantErr: true},
		{name: "empty", files: fstest.MapFS{"m/README.md": {}}, wantErr: true},
		{name: "missing dir", files: fstest.MapFS{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.files, "m")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Load succeeded with %d migrations, want error", len(ms))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tt.want) {
				t.Fatalf("got %d migrations, want %d", len(ms), len(tt.want))
			}
			for i, m := range ms {
				if m.Version != tt.want[i] {
					t.Errorf("migration %d has version %d, want %d", i, m.Version, tt.want[i])
				}
			}
			if ms[0].SQL != "A" {
				t.Errorf("first migration SQL = %q, want %q", ms[0].SQL, "A")
			}
		})
	}
}
