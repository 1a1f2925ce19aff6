using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// The state of one VM stream. Immutable: every Apply returns a new record. Rebuilt by the event
/// store from the stream (write side) and kept as the VM read model's source (read side).
/// </summary>
public sealed record Vm
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public string NameLabel { get; init; } = "";
    public VmPowerState PowerState { get; init; } = VmPowerState.Halted;
    public long VcpusMax { get; init; }
    public long VcpusAtStartup { get; init; }
    public long MemoryStaticMin { get; init; }
    public long MemoryDynamicMin { get; init; }
    public long MemoryDynamicMax { get; init; }
    public long MemoryStaticMax { get; init; }
    public long MemoryOverhead { get; init; }
    public DomainType DomainType { get; init; }
    public string HvmBootPolicy { get; init; } = "";
    public double HvmShadowMultiplier { get; init; } = 1.0;
    public string ActionsAfterShutdown { get; init; } = "destroy";
    public string ActionsAfterReboot { get; init; } = "restart";
    public string ActionsAfterCrash { get; init; } = "restart";
    public Guid? Affinity { get; init; }
    public bool IsATemplate { get; init; }
    public bool IsDefaultTemplate { get; init; }
    public bool IsASnapshot { get; init; }
    public bool IsControlDomain { get; init; }
    public ImmutableDictionary<string, string> BlockedOperations { get; init; } = ImmutableDictionary<string, string>.Empty;
    public string HaRestartPriority { get; init; } = "";
    public ImmutableDictionary<string, string> OtherConfig { get; init; } = ImmutableDictionary<string, string>.Empty;
    public ImmutableDictionary<string, string> Platform { get; init; } = ImmutableDictionary<string, string>.Empty;
    public ImmutableDictionary<string, string> VcpusParams { get; init; } = ImmutableDictionary<string, string>.Empty;
    public ImmutableDictionary<string, string> BiosStrings { get; init; } = ImmutableDictionary<string, string>.Empty;
    public string PvBootloader { get; init; } = "";
    public string PvKernel { get; init; } = "";

    /// <summary>current_operations: task id → operation.</summary>
    public ImmutableDictionary<Guid, VmOperation> CurrentOperations { get; init; } = ImmutableDictionary<Guid, VmOperation>.Empty;

    public Guid? ResidentOn { get; init; }
    public Guid? ScheduledToBeResidentOn { get; init; }
    public long Domid { get; init; } = -1;

    /// <summary>VBD id → userdevice, in creation order of ids.</summary>
    public ImmutableDictionary<Guid, string> Vbds { get; init; } = ImmutableDictionary<Guid, string>.Empty;

    /// <summary>VIF id → device number (decimal string).</summary>
    public ImmutableDictionary<Guid, string> Vifs { get; init; } = ImmutableDictionary<Guid, string>.Empty;

    /// <summary>VM.destroy happened: reads answer HANDLE_INVALID; the stream stays for history.</summary>
    public bool Destroyed { get; init; }

    /// <summary>The last step of the task now driving the VM (progress and step name of its task are derived from it).</summary>
    public TaskStep? Step { get; init; }

    /// <summary>VM_guest_metrics of the running guest: null until its PV drivers report (and again once Halted).</summary>
    public GuestMetrics? Guest { get; init; }

    /// <summary>
    /// The domain whose stop by itself the VM has followed (<see cref="DomainStoppedByItself"/>), until a new domain is
    /// created: a later report of that stop is stale (a preserved domain stays shut down, and is reported again).
    /// </summary>
    public long? StoppedDomid { get; init; }

    public DateTimeOffset InstallTime { get; init; }
    public DateTimeOffset? StartTime { get; init; }
    public long VcpusNumber { get; init; }

    public static Vm From(VmCreated e) => new()
    {
        Id = e.VmId,
        NameLabel = e.NameLabel,
        VcpusMax = e.VcpusMax,
        VcpusAtStartup = e.VcpusAtStartup,
        MemoryStaticMin = e.MemoryStaticMin,
        MemoryDynamicMin = e.MemoryDynamicMin,
        MemoryDynamicMax = e.MemoryDynamicMax,
        MemoryStaticMax = e.MemoryStaticMax,
        MemoryOverhead = e.MemoryOverhead,
        DomainType = e.DomainType,
        HvmBootPolicy = e.HvmBootPolicy,
        HvmShadowMultiplier = e.HvmShadowMultiplier,
        ActionsAfterShutdown = e.ActionsAfterShutdown,
        ActionsAfterReboot = e.ActionsAfterReboot,
        ActionsAfterCrash = e.ActionsAfterCrash,
        Affinity = e.Affinity,
        IsATemplate = e.IsATemplate,
        IsDefaultTemplate = e.IsDefaultTemplate,
        IsASnapshot = e.IsASnapshot,
        IsControlDomain = e.IsControlDomain,
        BlockedOperations = e.BlockedOperations,
        HaRestartPriority = e.HaRestartPriority,
        OtherConfig = e.OtherConfig,
        Platform = e.Platform,
        VcpusParams = e.VcpusParams,
        PvBootloader = e.PvBootloader,
        PvKernel = e.PvKernel,
        InstallTime = e.CreatedAt,
    };

    public Vm On(VbdAdded e) => this with { Vbds = Vbds.SetItem(e.VbdId, e.Userdevice) };

    public Vm On(VifAdded e) => this with { Vifs = Vifs.SetItem(e.VifId, e.Device) };

    public Vm On(VbdRemoved e) => this with { Vbds = Vbds.Remove(e.VbdId) };

    public Vm On(VifRemoved e) => this with { Vifs = Vifs.Remove(e.VifId) };

    public Vm On(OperationAdded e) =>
        this with { CurrentOperations = CurrentOperations.SetItem(e.TaskId, VmOperations.Parse(e.Operation)) };

    public Vm On(OperationRemoved e) =>
        this with { CurrentOperations = CurrentOperations.Remove(e.TaskId), Step = Step?.TaskId == e.TaskId ? null : Step };

    public Vm On(StartRefused e) => this;

    public Vm On(DomainTypeSet e) => this with { DomainType = e.DomainType };

    public Vm On(MemoryOverheadUpdated e) => this with { MemoryOverhead = e.MemoryOverhead };

    public Vm On(BiosStringsSet e) => this with { BiosStrings = e.BiosStrings };

    public Vm On(HostChosen e) => this with { Step = new TaskStep(e.TaskId, 0.1, "host chosen") };

    public Vm On(ScheduledToBeResidentOnSet e) => this with { ScheduledToBeResidentOn = e.HostId };

    public Vm On(ScheduledToBeResidentOnCleared e) =>
        ScheduledToBeResidentOn == e.HostId ? this with { ScheduledToBeResidentOn = null } : this;

    public Vm On(DomainCreated e) => this with { Step = new TaskStep(e.TaskId, 0.2, $"domain {e.Domid} created"), StoppedDomid = null };

    public Vm On(DomainBuilt e) => this with { Step = new TaskStep(e.TaskId, 0.3, "domain built") };

    public Vm On(VbdPlugged e) => this with { Step = new TaskStep(e.TaskId, 0.4, $"VBD {e.Device} plugged") };

    public Vm On(VifPlugged e) => this with { Step = new TaskStep(e.TaskId, 0.6, $"VIF {e.Device} plugged") };

    public Vm On(DeviceModelCreated e) => this with { Step = new TaskStep(e.TaskId, 0.7, "device model created") };

    public Vm On(DomainUnpaused e) => this with { Step = new TaskStep(e.TaskId, 0.8, "domain unpaused") };

    /// <summary>resident_on set, scheduled cleared, power state and domid from the hypervisor — one step.</summary>
    public Vm On(ResidentOnSet e) => this with
    {
        ResidentOn = e.HostId,
        ScheduledToBeResidentOn = null,
        Domid = e.Domid,
        PowerState = e.PowerState,
        VcpusNumber = e.VcpusNumber,
        StartTime = e.StartTime,
        Step = new TaskStep(e.TaskId, 0.9, "resident"),
    };

    /// <summary>§1.7: entering Halted clears resident_on, scheduled_to_be_resident_on and domid.</summary>
    public Vm On(PowerStateChanged e) => e.PowerState is VmPowerState.Halted
        ? this with { PowerState = e.PowerState, ResidentOn = null, ScheduledToBeResidentOn = null, Domid = -1, Guest = null }
        : this with { PowerState = e.PowerState };

    public Vm On(StartFailed e) => this;

    public Vm On(RrdPushed e) => this;

    public Vm On(RrdArchived e) => this;

    public Vm On(GuestMetricsReported e) =>
        this with { Guest = new GuestMetrics(e.PvDriversDetected, e.PvDriversVersion, e.Features, e.At ?? DateTimeOffset.MinValue) };

    public Vm On(DomainPaused e) => this with { Step = new TaskStep(e.TaskId, 0.5, "domain paused") };

    public Vm On(ShutdownAcknowledged e) => this with { Step = new TaskStep(e.TaskId, 0.3, $"guest acknowledged {e.Reason}") };

    /// <summary>The domain is gone; a reboot builds the next one, and its guest boots afresh (no guest metrics until it reports).</summary>
    public Vm On(DomainDestroyed e) => this with { Step = new TaskStep(e.TaskId, 0.4, $"domain {e.Domid} destroyed"), Guest = null };

    public Vm On(VmRebooted e) => this with
    {
        ResidentOn = e.HostId,
        Domid = e.Domid,
        PowerState = VmPowerState.Running,
        VcpusNumber = e.VcpusNumber,
        StartTime = e.StartTime,
        Step = new TaskStep(e.TaskId, 0.9, "rebooted"),
    };

    public Vm On(DomainStoppedByItself e) => this with { Guest = null, StoppedDomid = e.Domid };

    public Vm On(OperationAbandoned e) => this;

    public Vm On(VmDestroyed e) => this with { Destroyed = true };

    /// <summary>The next state after any event of this stream (unknown events leave it unchanged).</summary>
    public Vm Evolve(object @event) => @event switch
    {
        VbdAdded x => On(x),
        VifAdded x => On(x),
        VbdRemoved x => On(x),
        VifRemoved x => On(x),
        OperationAdded x => On(x),
        OperationRemoved x => On(x),
        StartRefused x => On(x),
        DomainTypeSet x => On(x),
        MemoryOverheadUpdated x => On(x),
        BiosStringsSet x => On(x),
        HostChosen x => On(x),
        ScheduledToBeResidentOnSet x => On(x),
        ScheduledToBeResidentOnCleared x => On(x),
        DomainCreated x => On(x),
        DomainBuilt x => On(x),
        VbdPlugged x => On(x),
        VifPlugged x => On(x),
        DeviceModelCreated x => On(x),
        DomainUnpaused x => On(x),
        ResidentOnSet x => On(x),
        PowerStateChanged x => On(x),
        StartFailed x => On(x),
        RrdPushed x => On(x),
        RrdArchived x => On(x),
        GuestMetricsReported x => On(x),
        DomainPaused x => On(x),
        ShutdownAcknowledged x => On(x),
        DomainDestroyed x => On(x),
        VmRebooted x => On(x),
        DomainStoppedByItself x => On(x),
        OperationAbandoned x => On(x),
        VmDestroyed x => On(x),
        _ => this,
    };

    /// <summary>The first state of the stream, from its creation event (null for any other event).</summary>
    public static Vm? Start(object @event) => @event is VmCreated e ? From(e) : null;
}
