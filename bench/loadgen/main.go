// Command loadgen replays prepared HTTP requests against one server, open loop, and reports what it saw.
//
// The benchmark (python -m bench) writes the requests to a file (every one a distinct, signed webhook
// delivery, or an API read) and runs this program against the hub and against a no-op app in the same
// run, so a ratio between the two holds on a busy machine. Written in Go with the standard library only:
// one process, on all cores, drives several times what the Python servers under test can take, which a
// Python client on the same two cores cannot.
//
// Paced (-rate R > 0): request n is due at start + n/R whatever the answers, and its latency runs from
// that due time to the end of the answer, so a server that falls behind shows it in the latency (no
// coordinated omission). -connections bounds the requests in flight; a due request waits for a free
// connection, and that wait is part of its latency.
//
// Unpaced (-rate 0): every connection sends its next request as soon as the answer to the last is read
// (saturation); latency runs from the send.
//
// Requests are taken in file order, each at most once (with -cycle, for ceilings, the file over and
// over); the program stops sending after -duration seconds (or when the file runs out) and waits for the
// answers in flight, at most -drain seconds. The result is one JSON object on stdout: requests sent,
// 2xx answers and their rate, status and error counts, requests that fell due but were never sent,
// latency quantiles (p50, p90, p99, p99.9, max) overall and per label, how late requests were taken
// (send lag), and the generator's own CPU time. Only the one target given is ever contacted (the
// benchmark passes loopback addresses).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// magic opens every request file; the format is described in bench/loadgen.py.
const magic = "HUBLOAD1"

type request struct {
	method string
	path   string
	label  string
	header http.Header
	body   []byte
}

// outcome of one request: filled by the worker that sent it (each index by exactly one goroutine).
type outcome struct {
	sent     bool
	status   int    // 0: no answer
	failure  string // the error kind when there was no answer
	latency  time.Duration
	sendLag  time.Duration // due time -> the moment a connection took it (paced runs)
	accepted int
}

type quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type labelResult struct {
	Sent      int            `json:"sent"`
	OK        int            `json:"ok"`
	Statuses  map[string]int `json:"statuses"`
	LatencyMs *quantiles     `json:"latency_ms"`
}

type result struct {
	Target          string                  `json:"target"`
	OfferedRate     float64                 `json:"offered_rate"`
	Connections     int                     `json:"connections"`
	DurationS       float64                 `json:"duration_s"`
	ElapsedS        float64                 `json:"elapsed_s"`
	Sent            int                     `json:"sent"`
	OK              int                     `json:"ok"`
	Statuses        map[string]int          `json:"statuses"`
	Errors          map[string]int          `json:"errors"`
	Unsent          int                     `json:"unsent"`
	RanOut          bool                    `json:"ran_out"`
	Accepted        int                     `json:"accepted"`
	Rate            float64                 `json:"rate"`
	LatencyMs       *quantiles              `json:"latency_ms"`
	SendLagMs       *quantiles              `json:"send_lag_ms"`
	GeneratorCPUS   float64                 `json:"generator_cpu_s"`
	ByLabel         map[string]*labelResult `json:"by_label"`
	ConnectionsUsed int64                   `json:"connections_opened"`
}

func main() {
	file := flag.String("requests", "", "request file written by bench/loadgen.py")
	target := flag.String("target", "", "base URL, e.g. http://127.0.0.1:8081")
	rate := flag.Float64("rate", 0, "requests/s (0: unpaced, as fast as the connections allow)")
	duration := flag.Float64("duration", 5, "seconds of sending")
	connections := flag.Int("connections", 64, "most connections (and requests in flight)")
	drain := flag.Float64("drain", 30, "seconds to wait after the sending window for due and in-flight requests")
	timeout := flag.Float64("timeout", 30, "seconds one request may take")
	countAccepted := flag.Bool("count-accepted", false, `sum the "accepted" field of JSON answers`)
	cycle := flag.Bool("cycle", false, "start the file over when it runs out (ceilings: the no-op app keeps nothing)")
	flag.Parse()
	if *file == "" || *target == "" || *connections < 1 || *duration <= 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "usage: loadgen -requests FILE -target URL [-rate R] [-duration S] [-connections C]")
		os.Exit(2)
	}
	requests, err := load(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	run := &runner{
		requests:      requests,
		outcomes:      make([]outcome, slots(requests, *cycle, *rate, *duration)),
		target:        *target,
		countAccepted: *countAccepted,
	}
	run.client = run.newClient(*connections, time.Duration(*timeout*float64(time.Second)))
	cpuBefore := cpuSeconds()
	started, ranOut := run.send(*rate, *connections, seconds(*duration), seconds(*drain))
	res := run.summary(started)
	res.OfferedRate, res.Connections, res.DurationS, res.RanOut = *rate, *connections, *duration, ranOut
	res.GeneratorCPUS = cpuSeconds() - cpuBefore
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", " ")
	if err := out.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// slots is how many requests the run may send: the file's, or with cycle what it can send (rate x
// duration when paced; unpaced, 50,000/s, far beyond any server here), the file taken over and over.
func slots(requests []request, cycle bool, rate, duration float64) int {
	if !cycle || len(requests) == 0 {
		return len(requests)
	}
	if rate == 0 {
		rate = 50_000
	}
	return int(rate*duration) + 1
}

type runner struct {
	requests      []request
	outcomes      []outcome
	target        string
	countAccepted bool
	client        *http.Client
	opened        atomic.Int64
	scheduled     atomic.Int64 // requests that fell due (paced) or were taken (unpaced)
	finished      atomic.Int64 // unix nanos of the latest answer
}

func (r *runner) newClient(connections int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			r.opened.Add(1)
			return dialer.DialContext(ctx, network, address)
		},
		MaxConnsPerHost:     connections,
		MaxIdleConns:        connections,
		MaxIdleConnsPerHost: connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: transport, Timeout: timeout}
}

type job struct {
	n   int
	due time.Time
}

// send runs the whole load; it returns when it started and whether the schedule wanted more requests
// than the file holds.
func (r *runner) send(rate float64, connections int, window, drain time.Duration) (time.Time, bool) {
	var wg sync.WaitGroup
	started := time.Now()
	giveUp := started.Add(window + drain) // due requests not sent by then are counted unsent
	var ranOut atomic.Bool
	if rate > 0 {
		jobs := make(chan job, len(r.outcomes))
		for range connections {
			wg.Go(func() {
				for j := range jobs {
					taken := time.Now()
					if taken.After(giveUp) {
						continue
					}
					r.do(j.n, j.due, taken)
				}
			})
		}
		interval := float64(time.Second) / rate
		for n := 0; ; n++ {
			due := started.Add(time.Duration(float64(n) * interval))
			if due.Sub(started) >= window {
				break
			}
			if n >= len(r.outcomes) {
				ranOut.Store(true)
				break
			}
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
			r.scheduled.Add(1)
			jobs <- job{n, due}
		}
		close(jobs)
	} else {
		var next atomic.Int64
		stop := started.Add(window)
		for range connections {
			wg.Go(func() {
				for time.Now().Before(stop) {
					n := int(next.Add(1) - 1)
					if n >= len(r.outcomes) {
						ranOut.Store(true)
						return
					}
					r.scheduled.Add(1)
					now := time.Now()
					r.do(n, now, now)
				}
			})
		}
	}
	wg.Wait()
	return started, ranOut.Load()
}

func (r *runner) do(n int, due, taken time.Time) {
	req := r.requests[n%len(r.requests)]
	out := &r.outcomes[n]
	out.sent = true
	out.sendLag = taken.Sub(due)
	httpReq, err := http.NewRequest(req.method, r.target+req.path, bytes.NewReader(req.body))
	if err != nil {
		out.failure = "bad_request"
		return
	}
	httpReq.Header = req.header.Clone()
	resp, err := r.client.Do(httpReq)
	if err != nil {
		out.failure = failureKind(err)
		out.latency = time.Since(due)
		return
	}
	var body []byte
	if r.countAccepted {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	end := time.Now()
	out.latency = end.Sub(due)
	for latest := r.finished.Load(); end.UnixNano() > latest; latest = r.finished.Load() {
		if r.finished.CompareAndSwap(latest, end.UnixNano()) {
			break
		}
	}
	if err != nil {
		out.failure = failureKind(err)
		return
	}
	out.status = resp.StatusCode
	if r.countAccepted && resp.StatusCode/100 == 2 && len(body) > 0 && body[0] == '{' {
		var answer struct {
			Accepted int `json:"accepted"`
		}
		if json.Unmarshal(body, &answer) == nil {
			out.accepted = answer.Accepted
		}
	}
}

func failureKind(err error) string {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_reset"
	default:
		return "transport_error"
	}
}

func (r *runner) summary(started time.Time) *result {
	res := &result{
		Target:   r.target,
		Statuses: map[string]int{},
		Errors:   map[string]int{},
		ByLabel:  map[string]*labelResult{},
	}
	var okLatencies, lags []float64
	perLabel := map[string][]float64{}
	for n := range r.outcomes {
		out := &r.outcomes[n]
		if !out.sent {
			continue
		}
		label := r.requests[n%len(r.requests)].label
		lr := res.ByLabel[label]
		if lr == nil {
			lr = &labelResult{Statuses: map[string]int{}}
			res.ByLabel[label] = lr
		}
		lr.Sent++
		res.Sent++
		lags = append(lags, ms(out.sendLag))
		if out.status == 0 {
			res.Errors[out.failure]++
			continue
		}
		code := strconv.Itoa(out.status)
		res.Statuses[code]++
		lr.Statuses[code]++
		if out.status/100 == 2 {
			res.OK++
			lr.OK++
			res.Accepted += out.accepted
			okLatencies = append(okLatencies, ms(out.latency))
			perLabel[label] = append(perLabel[label], ms(out.latency))
		}
	}
	end := time.Unix(0, r.finished.Load())
	if end.Before(started) {
		end = time.Now()
	}
	res.ElapsedS = end.Sub(started).Seconds()
	if res.ElapsedS > 0 {
		res.Rate = float64(res.OK) / res.ElapsedS
	}
	res.LatencyMs = summarise(okLatencies)
	res.SendLagMs = summarise(lags)
	for label, latencies := range perLabel {
		res.ByLabel[label].LatencyMs = summarise(latencies)
	}
	res.Unsent = int(r.scheduled.Load()) - res.Sent // fell due, but not sent before the give-up time
	res.ConnectionsUsed = r.opened.Load()
	return res
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarise gives the quantiles of values (nearest rank), or nil when there are none.
func summarise(values []float64) *quantiles {
	if len(values) == 0 {
		return nil
	}
	sort.Float64s(values)
	at := func(q float64) float64 {
		rank := int(math.Ceil(q*float64(len(values)))) - 1
		return round(values[max(0, min(rank, len(values)-1))])
	}
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	return &quantiles{at(0.5), at(0.9), at(0.99), at(0.999), round(values[len(values)-1]), round(sum / float64(len(values)))}
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) != nil {
		return 0
	}
	return tv(usage.Utime) + tv(usage.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// load reads a request file: the magic, then records of
// u8 method, u16 path, u8 label, u16 header count x (u16 name, u16 value), u32 body (lengths little endian,
// each followed by that many bytes).
func load(path string) ([]request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	in := bufio.NewReaderSize(f, 1<<20)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(in, head); err != nil || string(head) != magic {
		return nil, fmt.Errorf("%s is not a request file", path)
	}
	var requests []request
	for {
		if _, err := in.Peek(1); errors.Is(err, io.EOF) {
			return requests, nil // a clean end between records
		}
		method, err := readString(in, 1)
		if err != nil {
			return nil, err
		}
		req := request{method: method, header: http.Header{}}
		if req.path, err = readString(in, 2); err != nil {
			return nil, err
		}
		if req.label, err = readString(in, 1); err != nil {
			return nil, err
		}
		count, err := readLength(in, 2)
		if err != nil {
			return nil, err
		}
		for range count {
			name, err := readString(in, 2)
			if err != nil {
				return nil, err
			}
			value, err := readString(in, 2)
			if err != nil {
				return nil, err
			}
			req.header.Add(name, value)
		}
		if req.body, err = readBytes(in, 4); err != nil {
			return nil, err
		}
		requests = append(requests, req)
	}
}

func readLength(in *bufio.Reader, width int) (int, error) {
	buf := make([]byte, width)
	if _, err := io.ReadFull(in, buf); err != nil {
		return 0, err
	}
	switch width {
	case 1:
		return int(buf[0]), nil
	case 2:
		return int(binary.LittleEndian.Uint16(buf)), nil
	default:
		return int(binary.LittleEndian.Uint32(buf)), nil
	}
}

func readBytes(in *bufio.Reader, width int) ([]byte, error) {
	size, err := readLength(in, width)
	if err != nil {
		return nil, unexpected(err)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(in, data); err != nil {
		return nil, unexpected(err)
	}
	return data, nil
}

func readString(in *bufio.Reader, width int) (string, error) {
	data, err := readBytes(in, width)
	return string(data), err
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
