// Package apns wakes enrolled devices by sending MDM pushes through the Apple
// Push Notification service, so that they connect to the MDM server and fetch
// their queued commands.
//
// A [Client] is built from the MDM push certificate: the push topic is read
// from the certificate's subject UID (it must start with "com.apple.mgmt."),
// and the certificate authenticates the client over TLS. Each push is a POST
// to /3/device/<hex token> with apns-push-type "mdm", the topic, an
// expiration (a week by default, so that an offline device still gets the
// push when it comes back) and a priority, and the body is exactly
// {"mdm":"<PushMagic>"}. [Client.Push] sends a batch with bounded concurrency
// and returns one result per device: errors APNs reports are classified as
// permanent (a dead token matches [mdm.ErrPushTokenDead]), certificate
// problems ([ErrCertificate]) or transient; transient failures (429, 5xx,
// connection loss, GOAWAY) are retried with exponential backoff and jitter within
// the context's deadline. Client implements [mdm.Pusher].
//
// The HTTP/2 is golang.org/x/net/http2's Transport: it frames the requests,
// honours the stream limit and the per-stream and per-connection
// flow-control windows APNs announces, answers PING and SETTINGS, checks a
// quiet connection with PING, and sends again at once the streams APNs
// refused or did not process before a GOAWAY. The package gives it a
// connection pool of its own that keeps one long-lived connection, on which
// pushes beyond the stream limit wait for a stream, and that waits for
// APNs' first SETTINGS before the first push goes out. A host can bring its
// own net/http client instead (Options.HTTPClient).
//
// Apple documents the protocol at
// https://developer.apple.com/documentation/devicemanagement/sending-mdm-commands-to-a-device
// and the APNs request format at
// https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
package apns
