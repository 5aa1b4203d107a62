package api

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFeedCursor(t *testing.T) {
	for _, pos := range []int64{0, 1, 100, 1 << 40} {
		got, err := parseFeedCursor(FeedCursor(pos))
		require.NoError(t, err)
		require.Equal(t, pos, got)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"", "abc", "12", enc("12"), enc("feed:"), enc("feed:-1"), enc("feed:01"), enc("feed:1x"),
		enc("feed:99999999999999999999"), FeedCursor(5) + "=", "ZmVlZDox!"} {
		_, err := parseFeedCursor(bad)
		e, ok := err.(*Error)
		require.True(t, ok, "%q: %v", bad, err)
		require.Equal(t, 400, e.Status, bad)
		require.Equal(t, "invalid_cursor", e.Code, bad)
		require.Equal(t, "after", e.Field, bad)
	}
}

func TestFeedWait(t *testing.T) {
	for s, want := range map[string]time.Duration{"0": 0, "10": 10 * time.Second, "30": 30 * time.Second, "1500ms": 1500 * time.Millisecond, "30s": 30 * time.Second} {
		got, err := parseFeedWait(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, bad := range []string{"31", "-1", "30.5s", "1h", "abc", "1.5", " 5"} {
		_, err := parseFeedWait(bad)
		require.Error(t, err, bad)
	}
}
