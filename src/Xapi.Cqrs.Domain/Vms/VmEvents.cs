using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Vms;

// Every event of a VM stream, in lifecycle order. Type aliases are registered explicitly in the
// store setup and never renamed. Operations (OperationAdded/Removed) live in Operations/.

public sealed record VmCreated(
    Guid VmId,
    string NameLabel,
    long VcpusMax,
    long VcpusAtStartup,
    long MemoryStaticMin,
    long MemoryDynamicMin,
    long MemoryDynamicMax,
    long MemoryStaticMax,
    DomainType DomainType,
    string HvmBootPolicy,
    double HvmShadowMultiplier,
    string ActionsAfterCrash,
    Guid? Affinity,
    bool IsATemplate,
    bool IsDefaultTemplate,
    bool IsASnapshot,
    bool IsControlDomain,
    ImmutableDictionary<string, string> BlockedOperations,
    string HaRestartPriority,
    ImmutableDictionary<string, string> OtherConfig,
    ImmutableDictionary<string, string> Platform,
    ImmutableDictionary<string, string> VcpusParams,
    string PvBootloader,
    string PvKernel,
    long MemoryOverhead,
    DateTimeOffset CreatedAt,
    string ActionsAfterShutdown = "destroy",
    string ActionsAfterReboot = "restart");

/// <summary>A VBD was created for this VM (the VM stream owns device-name uniqueness).</summary>
public sealed record VbdAdded(Guid VbdId, string Userdevice, Guid? VdiId, string Type, string Mode);

/// <summary>A VIF was created for this VM (device numbers are unique per VM).</summary>
public sealed record VifAdded(Guid VifId, string Device, Guid NetworkId);

/// <summary>The VBD was destroyed: the VM no longer lists it (its position is free again); the VBD's stream keeps its history.</summary>
public sealed record VbdRemoved(Guid VbdId);

/// <summary>The VIF was destroyed: the VM no longer lists it (its device number is free again).</summary>
public sealed record VifRemoved(Guid VifId);

/// <summary>A start could not begin; recorded so the refusal appears in the VM's history.</summary>
public sealed record StartRefused(Guid TaskId, string Operation, string Code, ImmutableArray<string> Params);

/// <summary>§3.1 step 5: domain_type derived from HVM_boot_policy when unspecified.</summary>
public sealed record DomainTypeSet(DomainType DomainType);

/// <summary>§3.1 step 6: memory_overhead recomputed (bytes) before placement.</summary>
public sealed record MemoryOverheadUpdated(long MemoryOverhead);

/// <summary>§3.1 step 7: generic BIOS strings stored when the VM had none.</summary>
public sealed record BiosStringsSet(ImmutableDictionary<string, string> BiosStrings);

/// <summary>One host's standing in placement: its category values and, if it was validated, the failed check.</summary>
public sealed record HostCandidate(
    Guid HostId,
    string NameLabel,
    long Available,
    long? Definite,
    long? Probable,
    long? Possible,
    long? Affinity,
    string? FailedCheck,
    ImmutableArray<string> FailedParams);

/// <summary>One draw of ⌊n·r²⌋ within a category: which host it picked and whether it validated.</summary>
public sealed record PlacementDraw(string Category, bool MemoryCheck, int Candidates, double R, int Index, Guid HostId, bool Accepted);

/// <summary>
/// The host choice with every input of the decision (§4): candidates and their category values,
/// each random draw and the seed of the random source, so the choice can be replayed and explained.
/// </summary>
public sealed record HostChosen(
    Guid TaskId,
    Guid HostId,
    string Operation,
    int Seed,
    string Category,
    ImmutableArray<HostCandidate> Candidates,
    ImmutableArray<PlacementDraw> Draws,
    long MemoryRequired);

/// <summary>The reservation, and what the host agent is to do with it (start paused or running).</summary>
public sealed record ScheduledToBeResidentOnSet(Guid TaskId, Guid HostId, bool StartPaused = false);

public sealed record ScheduledToBeResidentOnCleared(Guid TaskId, Guid HostId);

// Host-side steps, reported by the host agent (§6.3). Each carries when the step finished on the host
// and how long it took there (At, DurationMs), since several steps are committed together.

/// <summary>A host-side step of a task: the task's progress and step name are derived from these.</summary>
public interface IHostStep
{
    Guid TaskId { get; }

    DateTimeOffset? At { get; }

    double? DurationMs { get; }
}

public sealed record DomainCreated(Guid TaskId, Guid HostId, long Domid, long MemoryReserved, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

public sealed record DomainBuilt(Guid TaskId, long Domid, string Kernel, long ShadowMib, string VcpuAffinity, int VcpuWeight, int VcpuCap, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

public sealed record VbdPlugged(Guid TaskId, Guid VbdId, string Device, string Mode, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

public sealed record VifPlugged(Guid TaskId, Guid VifId, string Device, string Bridge, string Mac, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

public sealed record DeviceModelCreated(Guid TaskId, long Domid, string Kind, int? VncPort, int EmulatedNics, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

public sealed record DomainUnpaused(Guid TaskId, long Domid, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

/// <summary>§3.1/§6.2: resident_on set and scheduled_to_be_resident_on cleared in one step, with the power state.</summary>
public sealed record ResidentOnSet(Guid TaskId, Guid HostId, long Domid, VmPowerState PowerState, long VcpusNumber, DateTimeOffset StartTime);

public sealed record PowerStateChanged(VmPowerState PowerState, string Reason);

/// <summary>The host side failed; what it built was destroyed. The master side clears marks and reservation.</summary>
public sealed record StartFailed(Guid TaskId, Guid HostId, string Code, ImmutableArray<string> Params);

/// <summary>§9: the VM's archived RRD pushed to the host it now runs on.</summary>
public sealed record RrdPushed(Guid TaskId, Guid HostId, long Domid);

/// <summary>§1.7: entering Halted, the VM's RRD is archived from the host it ran on.</summary>
public sealed record RrdArchived(Guid HostId);

/// <summary>
/// VM_guest_metrics as the booted guest's PV drivers report them (xenstore <c>attr/PVAddons</c>, <c>control/feature-*</c>):
/// whether PV drivers run, their version, and the features they announce (<c>feature-shutdown</c>, …).
/// A host-side step of the task during which the guest booted (start, reboot).
/// </summary>
public sealed record GuestMetricsReported(Guid TaskId, long Domid, bool PvDriversDetected, string PvDriversVersion, ImmutableArray<string> Features,
    DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

/// <summary>VM.pause on the host: the domain's vCPUs stopped.</summary>
public sealed record DomainPaused(Guid TaskId, long Domid, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

/// <summary>The guest acknowledged a clean shutdown or reboot request (control/shutdown) and its domain shut down.</summary>
public sealed record ShutdownAcknowledged(Guid TaskId, long Domid, string Reason, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

/// <summary>The VM's domain was destroyed on the host (shutdown, or the first half of a reboot).</summary>
public sealed record DomainDestroyed(Guid TaskId, long Domid, DateTimeOffset? At = null, double? DurationMs = null) : IHostStep;

/// <summary>A reboot rebuilt the domain on the same host: the VM stays Running with a new domid.</summary>
public sealed record VmRebooted(Guid TaskId, Guid HostId, long Domid, long VcpusNumber, DateTimeOffset StartTime);

/// <summary>
/// The host saw the VM's domain stop by itself (the guest powered off, rebooted or crashed), and what the VM's
/// actions_after_* made of it: <c>destroy</c> (to Halted), <c>restart</c> (rebuilt by the task of the same id),
/// <c>preserve</c> (the domain kept for inspection, the VM Paused). <see cref="Converted"/> tells why a restart
/// became a destroy (a crash loop).
/// </summary>
public sealed record DomainStoppedByItself(Guid TaskId, long Domid, string Reason, string Action, string? Converted, DateTimeOffset At);

/// <summary>An operation open past its deadline was ended by its owner (finished or rolled back), never dropped silently.</summary>
public sealed record OperationAbandoned(Guid TaskId, string Operation, TimeSpan Deadline, string Outcome);

/// <summary>VM.destroy: the VM (Halted or Suspended) and its VBDs and VIFs are gone from reads; never from history.</summary>
public sealed record VmDestroyed(DateTimeOffset At);
