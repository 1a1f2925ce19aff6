using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Operations;

namespace Xapi.Cqrs.Domain.Hosts;

/// <summary>The state of one host stream, including every memory commitment made against it.</summary>
public sealed record Host
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public string NameLabel { get; init; } = "";
    public string Address { get; init; } = "";
    public long MemoryTotal { get; init; }
    public long MemoryOverhead { get; init; }
    public int CpuCount { get; init; }
    public bool HvmCapable { get; init; }
    public ImmutableArray<Guid> Networks { get; init; } = [];
    public ImmutableArray<Guid> Srs { get; init; } = [];
    public string Hypervisor { get; init; } = "simulated";
    public bool IsCoordinator { get; init; }
    public bool Enabled { get; init; } = true;
    public bool Live { get; init; } = true;

    /// <summary>"in-process" (the service runs this host's agent) or "external" (a process of its own, <see cref="HostAgents"/>).</summary>
    public string Agent { get; init; } = HostAgents.InProcess;

    /// <summary>True when this host's agent runs as its own process; the service's in-process agents never drive it.</summary>
    public bool HasExternalAgent => Agent == HostAgents.External;

    /// <summary>current_operations: task id → host operation (vm_start, evacuate, …).</summary>
    public ImmutableDictionary<Guid, string> CurrentOperations { get; init; } = ImmutableDictionary<Guid, string>.Empty;

    /// <summary>VMs with scheduled_to_be_resident_on = this host, and what each is charged.</summary>
    public ImmutableDictionary<Guid, MemoryCharge> Scheduled { get; init; } = ImmutableDictionary<Guid, MemoryCharge>.Empty;

    /// <summary>VMs with resident_on = this host, and what each is charged.</summary>
    public ImmutableDictionary<Guid, MemoryCharge> Resident { get; init; } = ImmutableDictionary<Guid, MemoryCharge>.Empty;

    public static Host From(HostRegistered e) => new()
    {
        Id = e.HostId,
        NameLabel = e.NameLabel,
        Address = e.Address,
        MemoryTotal = e.MemoryTotal,
        MemoryOverhead = e.MemoryOverhead,
        CpuCount = e.CpuCount,
        HvmCapable = e.HvmCapable,
        Networks = e.Networks,
        Srs = e.Srs,
        Hypervisor = e.Hypervisor,
        IsCoordinator = e.IsCoordinator,
        Agent = e.Agent ?? HostAgents.InProcess,
        // An external host is live only once its agent heartbeats (the liveness monitor sets it).
        Live = e.Agent != HostAgents.External,
    };

    public Host On(HostEnabled e) => this with { Enabled = true };

    public Host On(HostDisabled e) => this with { Enabled = false };

    public Host On(HostLiveSet e) => this with { Live = e.Live };

    public Host On(OperationAdded e) => this with { CurrentOperations = CurrentOperations.SetItem(e.TaskId, e.Operation) };

    public Host On(OperationRemoved e) => this with { CurrentOperations = CurrentOperations.Remove(e.TaskId) };

    public Host On(VmScheduledOnHost e) => this with
    {
        Scheduled = Scheduled.SetItem(e.VmId, e.Charge),
        InternalNetworks = e.InternalNetworks is { IsDefaultOrEmpty: false } used ? InternalNetworks.SetItem(e.VmId, used) : InternalNetworks.Remove(e.VmId),
    };

    public Host On(VmUnscheduledFromHost e) => this with
    {
        Scheduled = Scheduled.Remove(e.VmId),
        InternalNetworks = Resident.ContainsKey(e.VmId) ? InternalNetworks : InternalNetworks.Remove(e.VmId),
    };

    public Host On(VmResidentOnHost e) =>
        this with { Scheduled = Scheduled.Remove(e.VmId), Resident = Resident.SetItem(e.VmId, e.Charge) };

    public Host On(VmLeftHost e) => this with { Resident = Resident.Remove(e.VmId), InternalNetworks = InternalNetworks.Remove(e.VmId) };

    /// <summary>The internal networks (listed by no host) used by the VMs scheduled or resident here, by VM.</summary>
    public ImmutableDictionary<Guid, ImmutableArray<Guid>> InternalNetworks { get; init; } = ImmutableDictionary<Guid, ImmutableArray<Guid>>.Empty;

    /// <summary>The host operation that keeps new VMs away (§3.3, §4.3 (5)).</summary>
    public const string EvacuateOperation = "evacuate";

    /// <summary>True while an <c>evacuate</c> is in the host's current_operations.</summary>
    public bool IsEvacuating => CurrentOperations.Values.Contains(EvacuateOperation);

    /// <summary>host_maximum_guest_memory (§5.4): memory_total − host memory_overhead.</summary>
    public long MaximumGuestMemory => MemoryTotal - MemoryOverhead;

    /// <summary>
    /// xapi's computed free memory (§5.4): maximum guest memory minus dynamic_min + overhead of every VM
    /// resident on or scheduled to this host; the VM being checked is left out of the scheduled set.
    /// </summary>
    public long FreeMemory(Guid? excludingScheduledVm = null)
    {
        var used = Resident.Values.Sum(c => c.Used)
            + Scheduled.Where(kv => kv.Key != excludingScheduledVm).Sum(kv => kv.Value.Used);
        return Math.Max(0, MaximumGuestMemory - used);
    }

    /// <summary>The next state after any event of this stream (unknown events leave it unchanged).</summary>
    public Host Evolve(object @event) => @event switch
    {
        HostEnabled x => On(x),
        HostDisabled x => On(x),
        HostLiveSet x => On(x),
        OperationAdded x => On(x),
        OperationRemoved x => On(x),
        VmScheduledOnHost x => On(x),
        VmUnscheduledFromHost x => On(x),
        VmResidentOnHost x => On(x),
        VmLeftHost x => On(x),
        _ => this,
    };

    /// <summary>The first state of the stream, from its creation event (null for any other event).</summary>
    public static Host? Start(object @event) => @event is HostRegistered e ? From(e) : null;
}
