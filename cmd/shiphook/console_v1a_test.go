package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestConsoleV1a walks a partner through creating a v1a endpoint in the
// console, sending it a test event that its receiver verifies with the
// public key shown, rotating its key and switching it to v1; the page never
// holds a whsk_ private key.
func TestConsoleV1a(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	rcv := newReceiver(t)
	createPartners(t, s, "acme")
	key := partnerKey(t, s, "acme")
	b.open("/")
	b.signIn(key)
	noPrivateKey := func(when string) {
		t.Helper()
		require.NotContains(t, eval[string](b, `document.documentElement.outerHTML`), "whsk_", "the page holds no private key %s", when)
	}

	b.click(`//main//a[normalize-space()='New endpoint']`)
	b.do("fill in the endpoint form for v1a",
		chromedp.WaitVisible(chromedp.CSS(`input[name="url"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="url"]`), rcv.URL+"/v1a"),
		chromedp.SetValue(chromedp.CSS(`select[name="signature_scheme"]`), "v1a"),
	)
	b.click(`//button[normalize-space()='Create endpoint']`)
	b.waitText(".notice", "Its public key is whpk_")
	created := b.text(".notice")
	require.Contains(t, b.text("#endpoint-scheme"), "v1a")
	noPrivateKey("after creation")

	b.click(`//button[normalize-space()='Show public key']`)
	public := b.text("#endpoint-public-key")
	require.True(t, strings.HasPrefix(public, "whpk_"), public)
	require.Contains(t, created, public, "the key shown is the one the creation showed")
	b.shot("endpoint-v1a-public-key")
	var revealed keysOut
	path := strings.TrimPrefix(b.path(), "/partners/acme/endpoints/")
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/endpoints/"+path+"/secret", key, nil, &revealed))
	require.Equal(t, public, revealed.PublicKey)

	rcv.setSecret("/v1a", public)
	b.do("choose the test event type",
		chromedp.WaitVisible(chromedp.ID("test-type")),
		chromedp.SetValue(chromedp.ID("test-type"), "shipment.milestone.departed"),
	)
	b.click(`//button[normalize-space()='Send test event']`)
	b.waitText("#test-status", "succeeded")
	require.Len(t, rcv.byPath("/v1a"), 1)
	require.Empty(t, rcv.invalidSignatures(), "the test event verifies with the public key")

	require.True(t, eval[bool](b, `(window.confirm = () => true, true)`), "answer yes to every confirmation")
	b.click(`//button[normalize-space()='Rotate secret']`)
	b.waitText("main", "Key rotated")
	rotated := b.text("#endpoint-public-key")
	require.NotEqual(t, public, rotated)
	require.Contains(t, b.text("main"), public, "the previous public key is shown with its expiry")
	noPrivateKey("after a rotation")

	b.do("switch the next key to v1", chromedp.SetValue(chromedp.ID("rotate-scheme"), "v1"))
	b.click(`//button[normalize-space()='Rotate secret']`)
	b.waitText("#endpoint-scheme", "v1 —")
	secret := b.text("#endpoint-secret")
	b.waitText("main", "Reveal secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	require.Contains(t, b.text("main"), rotated, "the rotated-out v1a key is shown by its public key")
	noPrivateKey("after switching to v1")
	b.shot("endpoint-v1a-to-v1")
}
