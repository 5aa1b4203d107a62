package harness

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// deliver posts a signed delivery of event to the receiver at path, as
// shiphook does, with client, and returns the status (0: no answer).
func deliver(t *testing.T, client *http.Client, rcv *Receiver, path, secret, msgID, eventID string) int {
	t.Helper()
	body := []byte(`{"type":"shipment.milestone.departed","timestamp":"2026-11-26T14:05:00Z","data":{"event_id":"` + eventID + `","sent_at_ns":"` +
		strconv.FormatInt(time.Now().UnixNano(), 10) + `"}}`)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	now := time.Now()
	sig, err := wh.Sign(msgID, now, body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, rcv.URL(path), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func startTestReceiver(t *testing.T) *Receiver {
	t.Helper()
	rcv, err := StartReceiver()
	require.NoError(t, err)
	t.Cleanup(rcv.Close)
	return rcv
}

func TestReceiver(t *testing.T) {
	rcv := startTestReceiver(t)
	client := http.DefaultClient
	secret := NewSecret()
	tl := NewTally()
	require.NoError(t, rcv.Add("/r/r1/0", secret, tl))
	reached := tl.Expect(2)

	require.Equal(t, http.StatusNoContent, deliver(t, client, rcv, "/r/r1/0", secret, "msg_1", "evt_1"))
	require.Equal(t, http.StatusNoContent, deliver(t, client, rcv, "/r/r1/0", secret, "msg_1", "evt_1"), "a retry is answered, and counted as a duplicate")
	require.Equal(t, http.StatusNoContent, deliver(t, client, rcv, "/r/r1/0", secret, "msg_9", "evt_1"), "a second message for the same event and endpoint")
	require.Equal(t, http.StatusUnauthorized, deliver(t, client, rcv, "/r/r1/0", NewSecret(), "msg_2", "evt_2"))
	require.Equal(t, http.StatusNotFound, deliver(t, client, rcv, "/r/nobody/0", secret, "msg_3", "evt_3"))
	select {
	case <-reached:
		t.Fatal("complete after one unique delivery of two")
	default:
	}

	require.NoError(t, rcv.SetMode(Unavailable))
	require.Equal(t, http.StatusServiceUnavailable, deliver(t, client, rcv, "/r/r1/0", secret, "msg_2", "evt_2"))
	require.NoError(t, rcv.SetMode(Failing))
	require.Equal(t, http.StatusInternalServerError, deliver(t, client, rcv, "/r/r1/0", secret, "msg_2", "evt_2"))
	require.NoError(t, rcv.SetMode(Refusing))
	require.Equal(t, 0, deliver(t, client, rcv, "/r/r1/0", secret, "msg_2", "evt_2"), "refused")
	require.NoError(t, rcv.SetMode(Up))
	require.Equal(t, http.StatusNoContent, deliver(t, client, rcv, "/r/r1/0", secret, "msg_2", "evt_2"))
	<-reached

	v := tl.View()
	require.Equal(t, 2, v.Unique)
	require.Equal(t, 4, v.Arrivals)
	require.Equal(t, 3, v.Messages)
	require.Len(t, v.Latencies, 2)
	require.EqualValues(t, 1, rcv.Invalid.Load())
	require.Contains(t, rcv.LastInvalid(), "/r/r1/0")
	require.EqualValues(t, 1, rcv.Stray.Load())
	require.EqualValues(t, 2, rcv.TurnedAway.Load())
	_, ok := tl.FirstArrival("/r/r1/0", "evt_2")
	require.True(t, ok)
	_, ok = tl.FirstArrival("/r/r1/0", "evt_3")
	require.False(t, ok)
}

// TestReceiverHangs checks that a hanging receiver holds a request until
// its sender gives up, and counts nothing.
func TestReceiverHangs(t *testing.T) {
	rcv := startTestReceiver(t)
	secret := NewSecret()
	tl := NewTally()
	require.NoError(t, rcv.Add("/h", secret, tl))
	require.NoError(t, rcv.SetMode(Hanging))
	start := time.Now()
	client := &http.Client{Timeout: 300 * time.Millisecond}
	require.Equal(t, 0, deliver(t, client, rcv, "/h", secret, "msg_1", "evt_1"), "no answer")
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	require.Zero(t, tl.Unique())
	require.EqualValues(t, 1, rcv.TurnedAway.Load())

	require.NoError(t, rcv.SetMode(Up))
	require.Equal(t, http.StatusNoContent, deliver(t, http.DefaultClient, rcv, "/h", secret, "msg_1", "evt_1"))
	require.Equal(t, 1, tl.Unique())
}

// TestReceiverFailsFirst checks an endpoint that answers 500 to the first
// arrivals of each message.
func TestReceiverFailsFirst(t *testing.T) {
	rcv := startTestReceiver(t)
	secret := NewSecret()
	tl := NewTally()
	require.NoError(t, rcv.AddFailing("/f", secret, tl, 2))
	for _, want := range []int{500, 500, 204, 204} {
		require.Equal(t, want, deliver(t, http.DefaultClient, rcv, "/f", secret, "msg_1", "evt_1"))
	}
	require.Equal(t, 500, deliver(t, http.DefaultClient, rcv, "/f", secret, "msg_2", "evt_2"), "counted by message")
	v := tl.View()
	require.Equal(t, 1, v.Unique)
	require.Equal(t, 2, v.Arrivals, "answered 500: not taken")
}

func TestReceiverLatency(t *testing.T) {
	rcv := startTestReceiver(t)
	secret := NewSecret()
	tl := NewTally()
	require.NoError(t, rcv.Add("/slow", secret, tl))
	rcv.SetLatency(200 * time.Millisecond)
	start := time.Now()
	require.Equal(t, http.StatusNoContent, deliver(t, http.DefaultClient, rcv, "/slow", secret, "msg_1", "evt_1"))
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	require.Equal(t, 1, tl.Unique())
}

func TestSleep(t *testing.T) {
	require.NoError(t, Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
}

func TestCountLogMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shiphook.log")
	require.NoError(t, os.WriteFile(path, []byte(`time=2026-12-06T07:32:30.579Z level=WARN msg=reconcile err="find events: unavailable"
time=2026-12-06T07:32:30.580Z level=WARN msg="Could not remove task id=d:1 type=\"deliver\"" err=x
time=2026-12-06T07:32:31.579Z level=WARN msg=reconcile err="find events: unavailable"
redis: 2026/12/06 07:35:59 pool.go:770: redis: connection pool: failed to dial
redis: 2026/12/06 07:36:00 pool.go:770: redis: connection pool: failed to dial
shiphook dev worker started
`), 0o644))
	require.Equal(t, map[string]int{"reconcile": 2, `Could not remove task id=d:1 type="deliver"`: 1, "shiphook dev worker started": 1,
		"redis: pool.go:770: redis: connection pool: failed to dial": 2}, CountLogMessages(path))
	require.Nil(t, CountLogMessages(filepath.Join(t.TempDir(), "none.log")))
}
