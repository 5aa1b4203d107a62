package main

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/sources"
)

// TestConsoleDCSAFormat walks a partner through making a DCSA endpoint in
// the console: asked for every type, the form shows the API's refusal,
// naming types without a DCSA form, beside the format; with a type that
// has one it is created, shows its format, and a test event arrives as a
// DCSA notification that verifies.
func TestConsoleDCSAFormat(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	rcv := newReceiver(t)
	createPartners(t, s, "acme")
	b.open("/")
	b.signIn(partnerKey(t, s, "acme"))

	b.click(`//main//a[normalize-space()='New endpoint']`)
	b.do("fill in the endpoint form for DCSA, with every type",
		chromedp.WaitVisible(chromedp.CSS(`input[name="url"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="url"]`), rcv.URL+"/dcsa"),
		chromedp.SetValue(chromedp.CSS(`select[name="format"]`), "dcsa-tnt-2.2"),
	)
	b.click(`//button[normalize-space()='Create endpoint']`)
	b.waitText(`.field[data-field="format"] .field-error`, "have none")
	refusal := b.text(`.field[data-field="format"] .field-error`)
	require.Contains(t, refusal, "shipment.milestone.delivered", "the types without a DCSA form are named")
	require.Contains(t, refusal, "shipment.milestone.departed", "the types with one are listed")
	b.shot("endpoint-dcsa-refused")

	b.click(`//label[normalize-space()='shipment.milestone.departed']/input`)
	b.click(`//button[normalize-space()='Create endpoint']`)
	b.waitText(".notice", "Endpoint created")
	b.click(`//button[normalize-space()='Reveal secret']`)
	secret := b.text("#endpoint-secret")
	rcv.setSecret("/dcsa", secret)
	require.Contains(t, b.text("main"), "DCSA Track & Trace 2.2")

	b.do("choose the test event type",
		chromedp.WaitVisible(chromedp.ID("test-type")),
		chromedp.SetValue(chromedp.ID("test-type"), "shipment.milestone.departed"),
	)
	b.click(`//button[normalize-space()='Send test event']`)
	b.waitText("#test-status", "succeeded")
	got := rcv.byPath("/dcsa")
	require.Len(t, got, 1)
	require.Empty(t, rcv.invalidSignatures())
	key, err := signing.SecretKey(secret)
	require.NoError(t, err)
	require.True(t, sources.VerifyDCSASignature(key, got[0].Body, got[0].Header.Get("Notification-Signature")))
	require.Contains(t, string(got[0].Body), `"transportEventTypeCode":"DEPA"`)
	b.shot("endpoint-dcsa")
}
