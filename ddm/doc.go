// Package ddm is declarative device management for enrolled devices,
// filtered for User Enrollment.
//
// A host defines [Declaration]s of the four classes (configurations,
// assets, activations, management), names sets of them ("all BYOD",
// "sales") and assigns sets or single declarations to enrollments. Each
// enrollment's effective set is computed from its assignment: activations
// bring the configurations they activate, configurations the assets they
// reference, and a reference to a declaration that does not exist, or to an
// asset of a type the key does not take, is an error when the declaration,
// set or assignment is written, never something a device discovers.
//
// Every declaration's ServerToken is derived from its content (type,
// identifier and payload, with key order and spacing normalised), so any
// change is seen and nothing else is; an enrollment's DeclarationsToken is
// derived from the tokens it is served.
//
// What Apple's schema does not allow for a device is withheld: a
// declaration type not supported on the device's platform, introduced in a
// later OS release, not allowed for its enrollment type
// (allowed-enrollments: a User Enrollment is "user") or not for its channel
// (allowed-scopes), or whose payload uses a key the schema restricts the
// same way (a supervised-only key), is never sent, and the host sees each
// withheld declaration with a typed [Reason] ([Service.Preview] shows it
// before an assignment, [Service.Sync] after). The table behind it is generated from
// Apple's device-management schema (declarative/declarations) by
// internal/genschema. What is unknown about a device is taken at its
// strictest: a User Enrollment, and the platform and OS release from the
// device's Authenticate until its status report says otherwise.
//
// The device side speaks through package mdm: the [Service] is an
// mdm.Responder that answers the DeclarativeManagement check-in (the tokens,
// declaration-items, declaration/… and status endpoints) only after mdm
// has verified the device's identity and tied the request to its
// enrollment, exactly as every other check-in; other messages go to
// Config.Next. Whenever an enrollment's effective set changes, the
// DeclarativeManagement command with the new SyncTokens is queued for it
// and the device is pushed. A change to a declaration or a set is fanned
// out in the admin request to the enrollments whose assignment reaches
// it, in batches: their states and their mdm records read together, what
// each distinct assignment serves worked out once per kind of device, the
// states stored in one transaction, and one command queued for all given
// the same tokens (10,000 enrollments in about 1.5–2 s on SQLite, 2 s on
// PostgreSQL, on two cores).
//
// Asset data whose DataURL is the [Service.AssetHandler]'s is served only
// to a device proving its identity as in a check-in, for an asset its
// enrollment is served, from an [AssetSource] told which enrollment asks:
// the ACME credential asset ([ACMECredentialAsset]) gets each enrollment
// its own single-use ClientIdentifier (Config.ACMECredentials, an
// *acme.Credentials) while the declaration stays the same for all.
//
// State lives behind the small [Store] interface: a catalog (declarations,
// sets, assignments) written by compare-and-swap on one revision, and per
// enrollment the facts its device reported, with a revision of their own,
// the synchronisation state and the latest status. A state records the
// catalog revision and the facts revision it was computed at and is served
// as stored while neither has moved, so a device's tokens request is two
// point reads; a catalog change makes each enrollment's state stale once,
// while a device reporting a new OS release makes only its own stale (its
// state is recomputed then, and the device told if what it is served
// changed), never the others'. store/memory, store/sqlite and
// store/postgres implement it and prove it with ddm/ddmtest.
//
// Apple's documentation:
// https://developer.apple.com/documentation/devicemanagement/integrating-declarative-management
package ddm
