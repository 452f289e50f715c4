package main

// newer holds the facts of command files a change list adds that the schema
// folder being read may not have yet, keyed by file name. They were read from
// the schema files of Apple's device-management repository (MIT) at commit
// 9468f879c31663a83ff7734d3ebf4cf4422e7c6b, release 27.0. When the folder has
// the file, the folder's own facts are used and the entry here is not; once
// the folder generated from is 27.0 or later these entries may go.
var newer = map[string]command{
	// Both enhanced-log-collection commands: supervised devices only, never
	// under User Enrollment; the Shared iPad device channel, the macOS user
	// channel, tvOS.
	"cancel.enhanced.log.collection.yaml":  enhancedLogCollection("CancelEnhancedLogCollection"),
	"trigger.enhanced.log.collection.yaml": enhancedLogCollection("TriggerEnhancedLogCollection"),
}

func enhancedLogCollection(requestType string) command {
	var c command
	c.RequestType = requestType
	c.OS[iOS] = osFacts{Introduced: "27.0", Device: true, SharedDevice: true}
	c.OS[macOS] = osFacts{Introduced: "27.0", User: true}
	c.OS[tvOS] = osFacts{Introduced: "27.0", Device: true}
	return c
}
