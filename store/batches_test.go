package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestBatches checks that calls made at the same moment, gathered into one
// statement or transaction, each get the answer they would get alone, on
// each backend.
func TestBatches(t *testing.T) {
	exercise(t, []contractTest{
		{"InsertEventBatches", testInsertEventBatches},
		{"BatchStatements", testBatchStatements},
		{"FanOutBatches", testFanOutBatches},
		{"Batches", testClaimRecordBatches},
		{"DeferBatch", testDeferBatch},
		{"HoldBatch", testHoldBatch},
	})
}

func testInsertEventBatches(t *testing.T, db backend) {
	// Single events stored at the same moment go in one
	// statement, as if stored one after the other.
	s, ctx := db.setup(t)
	keyed := func(id, key string) dispatcher.Event {
		e := event(id)
		e.IdempotencyKey = key
		return e
	}
	ins, errs := store.InsertEventBatch(ctx, s, []dispatcher.Event{keyed("evt_a", "k1"), keyed("evt_b", "k2"), keyed("evt_c", "k1")})
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []dispatcher.Insert{{ID: "evt_a", Created: true}, {ID: "evt_b", Created: true}, {ID: "evt_a"}}, ins)

	// One faulty event fails alone.
	ins, errs = store.InsertEventBatch(ctx, s, []dispatcher.Event{event("evt_d"), event(""), keyed("evt_e", "k2")})
	require.NoError(t, errs[0])
	require.Error(t, errs[1])
	require.NoError(t, errs[2])
	require.Equal(t, dispatcher.Insert{ID: "evt_d", Created: true}, ins[0])
	require.Equal(t, dispatcher.Insert{ID: "evt_b"}, ins[2])
	_, err := s.Event(ctx, "evt_d")
	require.NoError(t, err)
	_, err = s.Event(ctx, "evt_e")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// Many callers at once, some with the same key: one event per
	// key is stored, and every caller learns its id.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]map[string]bool{}
		created = map[string]int{}
	)
	for i := range 80 {
		wg.Go(func() {
			key := fmt.Sprintf("many-%d", i%20)
			res, err := s.InsertEvents(ctx, []dispatcher.Event{keyed(fmt.Sprintf("evt_many_%02d", i), key)})
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			if ids[key] == nil {
				ids[key] = map[string]bool{}
			}
			ids[key][res[0].ID] = true
			if res[0].Created {
				created[key]++
			}
		})
	}
	wg.Wait()
	require.Len(t, ids, 20)
	for key, got := range ids {
		require.Len(t, got, 1, "callers with key %s were told different ids", key)
		require.Equal(t, 1, created[key], key)
	}
}

func testBatchStatements(t *testing.T, db backend) {
	// A batch works on its own: a batch that fails falls back
	// to one statement per call, which would hide a broken one.
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme")),
		message("msg2", ev, endpoint("ep2", "acme")), message("msg3", ev, endpoint("ep3", "acme"))})
	require.NoError(t, err)
	won, err := store.ClaimMany(ctx, s, []string{"msg1", "msg2", "msg3"}, []int{0, 0, 1}, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"msg1", "msg2"}, won)

	ok := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
	att := func(id, msg string) dispatcher.Attempt {
		return dispatcher.Attempt{ID: id, MessageID: msg, Trigger: "scheduled", URL: "https://example.com/hook",
			StartedAt: micro(time.Now()), StatusCode: 200}
	}
	found, err := store.RecordMany(ctx, s, []dispatcher.Attempt{att("att1", "msg1"), att("att2", "msg2"), att("att3", "nothing")},
		[]dispatcher.Outcome{ok, ok, ok})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"msg1": true, "msg2": true}, found)
	for _, id := range []string{"msg1", "msg2"} {
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, dispatcher.StatusSucceeded, m.Status)
		require.Equal(t, 1, m.Attempts)
	}
}

func testFanOutBatches(t *testing.T, db backend) {
	// First fan-outs made at the same moment go in one
	// transaction on PostgreSQL; each caller still gets the
	// answer FanOut alone would have given.
	if db != "postgres" {
		t.Skip("SQLite makes each fan-out in a transaction of its own")
	}
	s, ctx := db.setup(t)
	e1, e3 := insertEvent(t, s, event("evt_1")), insertEvent(t, s, event("evt_3"))
	insertEvent(t, s, event("evt_2"))
	ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	_, err := s.FanOut(ctx, e3.ID, []dispatcher.Message{message("msg_30", e3, ep1)})
	require.NoError(t, err)

	pending, firsts, errs := store.FanOutBatch(ctx, s, []string{"evt_1", "evt_2", "evt_3", "evt_1", "nothing"},
		[][]dispatcher.Message{
			{message("msg_12", e1, ep1), message("msg_11", e1, ep2)},
			nil,
			{message("msg_31", e3, ep2)},
			{message("msg_13", e1, ep1)},
			{message("msg_x", dispatcher.Event{ID: "nothing"}, ep1)},
		})
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []bool{true, true, false, false, false}, firsts)
	msgID := func(m dispatcher.Message) string { return m.ID }
	require.Equal(t, []string{"msg_11", "msg_12"}, ids(pending[0], msgID))
	require.Equal(t, dispatcher.StatusPending, pending[0][0].Status)
	require.Equal(t, "ep2", pending[0][0].EndpointID)
	for _, p := range pending[1:] {
		require.Empty(t, p)
	}
	all, err := s.MessagesOfEvents(ctx, []string{"evt_1", "evt_2", "evt_3"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"msg_11", "msg_12", "msg_30"}, ids(all, msgID))
	for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
		ev, err := s.Event(ctx, id)
		require.NoError(t, err)
		require.NotNil(t, ev.FannedOutAt, id)
	}

	// The batch alone, without the fallback.
	e4, e5 := insertEvent(t, s, event("evt_4")), insertEvent(t, s, event("evt_5"))
	firsts, err = store.FanOutMany(ctx, s, []string{"evt_5", "evt_4", "evt_1"},
		[][]dispatcher.Message{{message("msg_51", e5, ep1), message("msg_52", e5, ep2)}, {message("msg_41", e4, ep1)},
			{message("msg_14", e1, ep2)}})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false}, firsts)
	all, err = s.MessagesOfEvents(ctx, []string{"evt_4", "evt_5"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"msg_41", "msg_51", "msg_52"}, ids(all, msgID))
}

func testClaimRecordBatches(t *testing.T, db backend) {
	// Claims and attempt records made at the same moment go in
	// one transaction; each caller still gets its own answer.
	s, _ := db.setup(t)
	fannedOut(t, s, 5)
	lease := micro(time.Now().Add(time.Minute))
	checkClaimBatch(t, s, lease)
	checkRecordBatch(t, s)
	checkRecordBatchFault(t, s)
	checkManyClaimsAndRecords(t, s, lease)
}

// deliveryAttempt is attempt number (0: the message's count) of message
// msg, now, that got status code; one of 500 or above failed.
func deliveryAttempt(id, msg string, number, code int) dispatcher.Attempt {
	a := dispatcher.Attempt{ID: id, MessageID: msg, Number: number, Trigger: "scheduled", URL: "https://example.com/hook",
		StartedAt: micro(time.Now()), DurationMS: 5, StatusCode: code}
	if code >= 500 {
		a.ErrorClass, a.Error = dispatcher.ErrorHTTPStatus, "503 Service Unavailable"
	}
	return a
}

// checkClaimBatch claims msg1 … msg5 of a fresh fan-out in one batch, with
// a message twice, one with a wrong attempt count and one that does not
// exist, and checks each caller's answer: msg3, the first msg1, msg4 and
// msg5 are claimed until lease.
func checkClaimBatch(t *testing.T, s *store.Store, lease time.Time) {
	t.Helper()
	ms, oks, errs := store.ClaimBatch(t.Context(), s, []string{"msg3", "msg1", "msg1", "msg2", "nothing", "msg4", "msg5"},
		[]int{0, 0, 0, 1, 0, 0, 0}, lease)
	require.Equal(t, []bool{true, true, false, false, false, true, true}, oks)
	for i, err := range errs {
		if i == 4 {
			require.ErrorIs(t, err, subscriptions.ErrNotFound)
			continue
		}
		require.NoError(t, err)
	}
	for _, i := range []int{0, 1, 5} {
		require.Equal(t, dispatcher.StatusDelivering, ms[i].Status, ms[i].ID)
		require.Equal(t, lease, *ms[i].LeaseUntil)
	}
	require.Equal(t, "msg1", ms[2].ID)
	require.Equal(t, dispatcher.StatusDelivering, ms[2].Status, "the loser sees the message as it stands")
	require.Equal(t, dispatcher.StatusPending, ms[3].Status, "wrong attempt count: not claimed")
}

// checkRecordBatch records attempts of the claimed msg3 (two), msg1 and
// msg4, and of a message that does not exist, in one batch, and checks
// each caller's answer and the messages and attempts stored.
func checkRecordBatch(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	next := micro(time.Now().Add(time.Minute))
	ok := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
	retry := dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}
	errs := store.RecordBatch(ctx, s,
		[]dispatcher.Attempt{deliveryAttempt("att_a", "msg3", 0, 503), deliveryAttempt("att_b", "msg1", 1, 200),
			deliveryAttempt("att_c", "nothing", 1, 200), deliveryAttempt("att_d", "msg3", 0, 200), deliveryAttempt("att_e", "msg4", 0, 503)},
		[]dispatcher.Outcome{retry, ok, ok, ok, retry})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], subscriptions.ErrNotFound)
	require.NoError(t, errs[3], "a second record of one message in a batch")
	require.NoError(t, errs[4])

	m, err := s.Message(ctx, "msg3")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusSucceeded, m.Status, "records of one message apply in the order given")
	require.Equal(t, 2, m.Attempts)
	atts, err := s.ListAttempts(ctx, "msg3", subscriptions.Page{})
	require.NoError(t, err)
	require.Len(t, atts, 2)
	require.Equal(t, []int{1, 2}, []int{atts[0].Number, atts[1].Number}, "a zero Number is the message's count")
	require.Equal(t, []string{"ep3", "ep3"}, []string{atts[0].EndpointID, atts[1].EndpointID})
	require.Equal(t, "acme", atts[0].PartnerID)
	m, err = s.Message(ctx, "msg4")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, m.Status)
	require.Equal(t, next, *m.NextAttemptAt)
	require.Nil(t, m.LeaseUntil)
	require.Equal(t, 503, m.LastStatusCode)
	require.Equal(t, dispatcher.ErrorHTTPStatus, m.LastErrorClass)
	m, err = s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusSucceeded, m.Status)
}

// checkRecordBatchFault checks that a faulty record (its attempt id, att_b,
// taken) fails alone; the rest of its batch is recorded.
func checkRecordBatchFault(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	_, claimed, err := s.ClaimMessage(ctx, "msg2", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, claimed)
	ok := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
	errs := store.RecordBatch(ctx, s,
		[]dispatcher.Attempt{deliveryAttempt("att_f", "msg5", 1, 200), deliveryAttempt("att_b", "msg2", 1, 200)},
		[]dispatcher.Outcome{ok, ok})
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], subscriptions.ErrConflict)
	m, err := s.Message(ctx, "msg5")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusSucceeded, m.Status)
	m, err = s.Message(ctx, "msg2")
	require.NoError(t, err)
	require.Equal(t, 0, m.Attempts, "the failed record changed nothing")
}

// checkManyClaimsAndRecords fans an event out to 60 endpoints and has two
// callers at once claim each message until lease and record its attempt:
// every claim and record lands once.
func checkManyClaimsAndRecords(t *testing.T, s *store.Store, lease time.Time) {
	t.Helper()
	ctx := t.Context()
	var evMsgs []dispatcher.Message
	ev2 := insertEvent(t, s, event("evt_2"))
	for i := range 60 {
		evMsgs = append(evMsgs, message(fmt.Sprintf("many%02d", i), ev2, endpoint(fmt.Sprintf("ep%02d", i), "acme")))
	}
	_, err := s.FanOut(ctx, ev2.ID, evMsgs)
	require.NoError(t, err)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[string]int{}
	)
	for _, msg := range evMsgs {
		for range 2 {
			wg.Go(func() {
				_, ok, err := s.ClaimMessage(ctx, msg.ID, 0, lease)
				if err != nil || !ok {
					require.NoError(t, err)
					return
				}
				mu.Lock()
				wins[msg.ID]++
				mu.Unlock()
				require.NoError(t, s.RecordAttempt(ctx, deliveryAttempt("att_"+msg.ID, msg.ID, 1, 200), dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
			})
		}
	}
	wg.Wait()
	require.Len(t, wins, 60)
	for id, n := range wins {
		require.Equal(t, 1, n, id)
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, dispatcher.StatusSucceeded, m.Status)
		require.Equal(t, 1, m.Attempts)
	}
}

func testDeferBatch(t *testing.T, db backend) {
	// Deferrals made at the same moment go in one transaction;
	// each caller still learns whether its message moved.
	s, ctx := db.setup(t)
	fannedOut(t, s, 4)
	_, ok, err := s.ClaimMessage(ctx, "msg4", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)

	later := micro(time.Now().Add(time.Minute))
	moved, errs := store.DeferBatch(ctx, s, []string{"msg3", "msg1", "msg2", "nothing", "msg4", "msg1"},
		[]int{0, 0, 1, 0, 0, 0}, later)
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []bool{true, true, false, false, false, true}, moved,
		"a stale attempt count, an unknown message and one being delivered move nothing; a repeat moves again")
	for id, want := range map[string]bool{"msg1": true, "msg2": false, "msg3": true} {
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, dispatcher.StatusPending, m.Status, id)
		require.Equal(t, want, *m.NextAttemptAt == later, id)
	}

	// The batch itself, without the fallback to one at a time.
	further := micro(later.Add(time.Minute))
	moved, err = store.DeferMany(ctx, s, []string{"msg2", "msg3", "msg4"}, []int{0, 0, 0}, further)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false}, moved)
}

func testHoldBatch(t *testing.T, db backend) {
	// Holds and deferrals made at the same moment go in one
	// transaction; each caller still learns whether its message
	// moved.
	s, ctx := db.setup(t)
	fannedOut(t, s, 5)
	msg5, ok, err := s.ClaimMessage(ctx, "msg5", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	msg2, err := s.Message(ctx, "msg2")
	require.NoError(t, err)

	later := micro(time.Now().Add(time.Minute))
	moved, errs := store.HoldBatch(ctx, s, []string{"msg3", "msg1", "msg2", "nothing", "msg5", "msg4", "msg1"},
		[]int{0, 0, 1, 0, 0, 0, 0}, []bool{true, false, true, true, true, false, true}, later)
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []bool{true, true, false, false, false, true, true}, moved,
		"a stale attempt count, an unknown message and one being delivered move nothing; msg1 is deferred, then held")
	for id, want := range map[string]struct {
		status dispatcher.Status
		next   *time.Time
	}{
		"msg1": {dispatcher.StatusHeld, nil},
		"msg2": {dispatcher.StatusPending, msg2.NextAttemptAt},
		"msg3": {dispatcher.StatusHeld, nil},
		"msg4": {dispatcher.StatusPending, &later},
		"msg5": {dispatcher.StatusDelivering, msg5.NextAttemptAt},
	} {
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want.status, m.Status, id)
		require.Equal(t, want.next, m.NextAttemptAt, id)
	}

	// The batch itself, without the fallback to one at a time.
	further := micro(later.Add(time.Minute))
	moved, err = store.HoldMany(ctx, s, []string{"msg4", "msg2", "msg3"}, []int{0, 0, 0}, []bool{true, false, true}, further)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false}, moved)
	m, err := s.Message(ctx, "msg4")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusHeld, m.Status)
	require.Nil(t, m.NextAttemptAt)
	m, err = s.Message(ctx, "msg2")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, m.Status)
	require.Equal(t, further, *m.NextAttemptAt)
}
