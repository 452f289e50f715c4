package main

// The facts of command files that a schema folder may lack, keyed by file
// name: files a newer release adds (newer) and files a release removed
// (retired). They were read from the schema files of Apple's
// device-management repository (MIT): the new ones at commit
// 9468f879c31663a83ff7734d3ebf4cf4422e7c6b (release 27.0), the retired ones
// at b6202ca (release 18.1, the last to describe them) with Apple's 27.0
// change list. Where the folder has a file, its own facts are used;
// TestFactsMatchSchema checks these against a folder that has the files.

// newer is used for a file a change list newer than the folder adds.
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

// retired is used for a removed command whose file the folder no longer
// has (a folder of release 27.0 or later), so that it stays refused for
// devices on its removal release or later rather than becoming unknown.
var retired = map[string]command{
	"system.update.available.yaml": softwareUpdate("AvailableOSUpdates", "10.11"),
	"system.update.schedule.yaml":  softwareUpdate("ScheduleOSUpdate", "10.11"),
	"system.update.status.yaml":    softwareUpdate("OSUpdateStatus", "10.11.5"),
	"system.update.scan.yaml": {RequestType: "ScheduleOSUpdateScan", OS: [numOS]osFacts{
		macOS: {Introduced: "10.11", Removed: "27.0", Device: true},
	}},
}

// softwareUpdate is a software-update command of iOS 9, tvOS 12 and the
// given macOS release, device channel only, never under User Enrollment,
// removed in 27.0.
func softwareUpdate(requestType, macIntroduced string) command {
	var c command
	c.RequestType = requestType
	c.OS[iOS] = osFacts{Introduced: "9.0", Removed: "27.0", Device: true, SharedDevice: true}
	c.OS[macOS] = osFacts{Introduced: macIntroduced, Removed: "27.0", Device: true}
	c.OS[tvOS] = osFacts{Introduced: "12.0", Removed: "27.0", Device: true}
	return c
}
