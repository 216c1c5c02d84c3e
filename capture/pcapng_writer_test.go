package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestPcapngWriterRoundTrip(t *testing.T) {
	ifaces := []Interface{{"eth0", LinkEthernet, 262144}, {"any", LinkLinuxSLL2, 65535}}
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	var want []got
	for i := range 7 {
		data := payload(i, 13+i*37) // lengths not multiples of 4: padding
		p := Packet{Data: data, Length: len(data) + i, Time: int64(t0+i)*1e9 + 123456789 + int64(i), Link: ifaces[i%2].Link, Iface: i % 2}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
		want = append(want, got{data, p.Length, p.Time, p.Link, p.Iface, 0})
	}
	if err := w.WritePacket(&Packet{Data: []byte{1}, Iface: 2}); err == nil {
		t.Error("a packet of an interface the section does not have was written")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	pkts, err := readAll(t, "w.pcapng", buf.Bytes())
	if err != io.EOF {
		t.Fatalf("final error %v, want io.EOF", err)
	}
	if !reflect.DeepEqual(pkts, want) {
		t.Errorf("got %+v\nwant %+v", pkts, want)
	}
	// tshark, when installed, reads the interface names and nanosecond times.
	if _, err := exec.LookPath("tshark"); err == nil {
		path := filepath.Join(t.TempDir(), "w.pcapng")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.time_epoch").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 7 || !strings.HasPrefix(lines[0], "eth0\t1700000000.123456789") || !strings.HasPrefix(lines[1], "any\t1700000001.123456790") {
			t.Errorf("tshark reads:\n%s", out)
		}
	}
}

// failWriter fails like a full disk after n bytes.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, &os.PathError{Op: "write", Path: "x.pcapng", Err: syscall.ENOSPC}
	}
	f.n -= len(p)
	return len(p), nil
}

func TestPcapngWriterFullDisk(t *testing.T) {
	w, err := NewPcapngWriter(&failWriter{n: 3000}, []Interface{{"eth0", LinkEthernet, 262144}})
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Data: payload(1, 1000), Length: 1000, Link: LinkEthernet}
	for range 3000 {
		if err = w.WritePacket(&p); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	if err2 := w.Flush(); !errors.Is(err2, syscall.ENOSPC) {
		t.Errorf("error not sticky: %v", err2)
	}
}

func TestPcapngWriterAllocs(t *testing.T) {
	w, err := NewPcapngWriter(io.Discard, []Interface{{"eth0", LinkEthernet, 262144}})
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Data: payload(1, 101), Length: 101, Link: LinkEthernet}
	if n := testing.AllocsPerRun(1000, func() { w.WritePacket(&p) }); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}
