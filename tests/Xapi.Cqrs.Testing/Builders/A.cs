using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Testing.Builders;

/// <summary>
/// Builders that default everything, so a test names only what matters to it:
/// <c>A.Vm(powerState: VmPowerState.Running)</c>, <c>A.Host(memoryTotal: 8.GiB())</c>.
/// </summary>
public static class A
{
    /// <summary>
    /// A VM: Halted HVM, 1 vCPU, 1 GiB. <paramref name="memory"/> sets all four memory values;
    /// the individual ones override it. memory_overhead defaults to the §5.2 model's value.
    /// </summary>
    public static Vm Vm(
        VmPowerState powerState = VmPowerState.Halted,
        long? memory = null,
        long? staticMin = null,
        long? dynamicMin = null,
        long? dynamicMax = null,
        long? staticMax = null,
        long vcpusMax = 1,
        long? vcpusAtStartup = null,
        DomainType domainType = DomainType.Hvm,
        string hvmBootPolicy = "",
        double shadowMultiplier = 1.0,
        long? memoryOverhead = null,
        string actionsAfterCrash = "restart",
        Guid? id = null,
        Guid? affinity = null,
        bool isTemplate = false,
        bool isDefaultTemplate = false,
        bool isSnapshot = false,
        bool isControlDomain = false,
        long domid = -1,
        Guid? residentOn = null,
        IEnumerable<VmOperation>? currentOperations = null,
        IReadOnlyDictionary<VmOperation, string>? blockedOperations = null,
        IReadOnlyDictionary<string, string>? platform = null,
        IReadOnlyDictionary<string, string>? otherConfig = null,
        IEnumerable<string>? vbdDevices = null,
        IEnumerable<string>? vifDevices = null)
    {
        var sMax = staticMax ?? memory ?? 1.GiB();
        var dMax = dynamicMax ?? memory ?? sMax;
        var dMin = dynamicMin ?? memory ?? dMax;
        var vm = new Vm
        {
            Id = id ?? Guid.NewGuid(),
            NameLabel = "vm",
            PowerState = powerState,
            VcpusMax = vcpusMax,
            VcpusAtStartup = vcpusAtStartup ?? vcpusMax,
            MemoryStaticMin = staticMin ?? Math.Min(dMin, sMax),
            MemoryDynamicMin = dMin,
            MemoryDynamicMax = dMax,
            MemoryStaticMax = sMax,
            DomainType = domainType,
            HvmBootPolicy = hvmBootPolicy,
            HvmShadowMultiplier = shadowMultiplier,
            ActionsAfterCrash = actionsAfterCrash,
            Affinity = affinity,
            IsATemplate = isTemplate || isDefaultTemplate,
            IsDefaultTemplate = isDefaultTemplate,
            IsASnapshot = isSnapshot,
            IsControlDomain = isControlDomain,
            Domid = domid,
            ResidentOn = residentOn,
            CurrentOperations = (currentOperations ?? []).ToImmutableDictionary(_ => Guid.NewGuid(), op => op),
            BlockedOperations = (blockedOperations ?? new Dictionary<VmOperation, string>())
                .ToImmutableDictionary(kv => kv.Key.ToWire(), kv => kv.Value),
            Platform = (platform ?? new Dictionary<string, string>()).ToImmutableDictionary(),
            OtherConfig = (otherConfig ?? new Dictionary<string, string>()).ToImmutableDictionary(),
            Vbds = (vbdDevices ?? []).ToImmutableDictionary(_ => Guid.NewGuid(), d => d),
            Vifs = (vifDevices ?? []).ToImmutableDictionary(_ => Guid.NewGuid(), d => d),
        };
        return vm with { MemoryOverhead = memoryOverhead ?? MemoryModel.OverheadBytes(vm) };
    }

    /// <summary>
    /// A live, enabled, HVM-capable host with 8 GiB, no host overhead and 16 CPUs.
    /// <paramref name="resident"/> and <paramref name="scheduled"/> VMs are charged as §5.4 counts them.
    /// </summary>
    public static Host Host(
        long? memoryTotal = null,
        long memoryOverhead = 0,
        int cpuCount = 16,
        bool hvmCapable = true,
        bool enabled = true,
        bool live = true,
        bool isCoordinator = false,
        Guid? id = null,
        string name = "host",
        IEnumerable<Guid>? srs = null,
        IEnumerable<Guid>? networks = null,
        IEnumerable<Vm>? resident = null,
        IEnumerable<Vm>? scheduled = null,
        IEnumerable<string>? currentOperations = null) => new()
        {
            Id = id ?? Guid.NewGuid(),
            NameLabel = name,
            MemoryTotal = memoryTotal ?? 8.GiB(),
            MemoryOverhead = memoryOverhead,
            CpuCount = cpuCount,
            HvmCapable = hvmCapable,
            Enabled = enabled,
            Live = live,
            IsCoordinator = isCoordinator,
            Srs = [.. srs ?? []],
            Networks = [.. networks ?? []],
            Resident = (resident ?? []).ToImmutableDictionary(v => v.Id, MemoryModel.Charge),
            Scheduled = (scheduled ?? []).ToImmutableDictionary(v => v.Id, MemoryModel.Charge),
            CurrentOperations = (currentOperations ?? []).ToImmutableDictionary(_ => Guid.NewGuid(), op => op),
        };

    /// <summary>A RW disk VBD at position 0, unplugged, idle.</summary>
    public static Vbd Vbd(
        Guid? vmId = null,
        Guid? vdiId = null,
        string userdevice = "0",
        VbdMode mode = VbdMode.RW,
        VbdType type = VbdType.Disk,
        bool empty = false,
        bool unpluggable = true,
        bool currentlyAttached = false,
        bool reserved = false,
        Guid? id = null,
        IEnumerable<VbdOperation>? currentOperations = null) => new()
        {
            Id = id ?? Guid.NewGuid(),
            VmId = vmId ?? Guid.NewGuid(),
            VdiId = empty ? null : vdiId ?? Guid.NewGuid(),
            Userdevice = userdevice,
            Mode = mode,
            Type = type,
            Empty = empty,
            Unpluggable = unpluggable,
            CurrentlyAttached = currentlyAttached,
            Reserved = reserved,
            CurrentOperations = (currentOperations ?? []).ToImmutableDictionary(_ => Guid.NewGuid(), op => op),
        };

    /// <summary>A managed, writable, non-sharable VDI nobody holds.</summary>
    public static Vdi Vdi(
        Guid? id = null,
        Guid? srId = null,
        bool readOnly = false,
        bool sharable = false,
        bool managed = true,
        IEnumerable<(Guid VbdId, Guid VmId, bool ReadWrite)>? holders = null) => new()
        {
            Id = id ?? Guid.NewGuid(),
            SrId = srId ?? Guid.NewGuid(),
            NameLabel = "vdi",
            VirtualSize = 10.GiB(),
            ReadOnly = readOnly,
            Sharable = sharable,
            Managed = managed,
            Holders = (holders ?? []).ToImmutableDictionary(h => h.VbdId, h => new VdiHolder(h.VmId, h.ReadWrite)),
        };

    /// <summary>A VIF with device "0" and a fixed valid MAC, unplugged, idle.</summary>
    public static Vif Vif(
        Guid? vmId = null,
        Guid? networkId = null,
        string device = "0",
        string mac = "02:00:00:00:00:01",
        bool currentlyAttached = false,
        bool reserved = false,
        Guid? id = null,
        IEnumerable<VifOperation>? currentOperations = null) => new()
        {
            Id = id ?? Guid.NewGuid(),
            VmId = vmId ?? Guid.NewGuid(),
            NetworkId = networkId ?? Guid.NewGuid(),
            Device = device,
            Mac = mac,
            CurrentlyAttached = currentlyAttached,
            Reserved = reserved,
            CurrentOperations = (currentOperations ?? []).ToImmutableDictionary(_ => Guid.NewGuid(), op => op),
        };

    /// <summary>The fixed "now" of <see cref="Start"/> and the event builders.</summary>
    public static readonly DateTimeOffset Now = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A VM.start request (or VM.start_on when <paramref name="host"/> is given): running, not paused,
    /// seed 1, a fresh task, asked by "test" at <see cref="Now"/>.
    /// </summary>
    public static StartRequest Start(Guid? host = null, bool paused = false, int seed = 1, Guid? taskId = null) =>
        new(taskId ?? Guid.NewGuid(), host, paused, seed, "test", Now);

    /// <summary>The pool view placement decides on, from the hosts as built.</summary>
    public static PoolView Pool(params Host[] hosts) => PoolView.Of(hosts);

    /// <summary>
    /// A VM with its devices, linked both ways: every VBD and VIF gets the VM's id, and the VM lists
    /// them (VBD id → userdevice, VIF id → device) besides any it already had. The VDIs are passed as is.
    /// </summary>
    public static VmDevices Devices(Vm vm, IEnumerable<Vbd>? vbds = null, IEnumerable<Vdi>? vdis = null, IEnumerable<Vif>? vifs = null)
    {
        var disks = (vbds ?? []).Select(v => v with { VmId = vm.Id }).ToList();
        var nics = (vifs ?? []).Select(v => v with { VmId = vm.Id }).ToList();
        var linked = vm with
        {
            Vbds = vm.Vbds.SetItems(disks.Select(v => KeyValuePair.Create(v.Id, v.Userdevice))),
            Vifs = vm.Vifs.SetItems(nics.Select(v => KeyValuePair.Create(v.Id, v.Device))),
        };
        return VmDevices.Of(linked, disks, vdis ?? [], nics);
    }

    // Creation events, for tests that build their states from events (Given(VmCreated, VbdAdded, …)).

    /// <summary>
    /// VmCreated for a 1 GiB, 1 vCPU VM whose domain type is unspecified (boot policy "BIOS order", so it
    /// resolves to hvm), with no stored overhead and no BIOS strings: what a start fills in (§3.1 steps 5–7).
    /// </summary>
    public static VmCreated VmCreated(
        Guid? id = null,
        long? memory = null,
        long vcpus = 1,
        DomainType domainType = DomainType.Unspecified,
        string hvmBootPolicy = "BIOS order",
        long memoryOverhead = 0,
        string name = "vm")
    {
        var m = memory ?? 1.GiB();
        return new(id ?? Guid.NewGuid(), name, vcpus, vcpus, m, m, m, m, domainType, hvmBootPolicy, 1.0, "restart", null,
            false, false, false, false, ImmutableDictionary<string, string>.Empty, "", ImmutableDictionary<string, string>.Empty,
            ImmutableDictionary<string, string>.Empty, ImmutableDictionary<string, string>.Empty, "", "", memoryOverhead, Now);
    }

    /// <summary>HostRegistered for an HVM-capable 8 GiB host with 16 CPUs and no host overhead.</summary>
    public static HostRegistered HostRegistered(
        Guid? id = null,
        long? memoryTotal = null,
        long memoryOverhead = 0,
        int cpuCount = 16,
        IEnumerable<Guid>? srs = null,
        IEnumerable<Guid>? networks = null,
        string name = "host") =>
        new(id ?? Guid.NewGuid(), name, "10.0.0.1", memoryTotal ?? 8.GiB(), memoryOverhead, cpuCount, true,
            [.. networks ?? []], [.. srs ?? []], "simulated", false);

    /// <summary>VdiCreated for a managed, writable, non-sharable 10 GiB disk.</summary>
    public static VdiCreated VdiCreated(Guid? id = null, Guid? srId = null, bool readOnly = false, bool sharable = false) =>
        new(id ?? Guid.NewGuid(), srId ?? Guid.NewGuid(), "vdi", 10.GiB(), readOnly, sharable, true);

    /// <summary>VbdCreated for a pluggable disk of <paramref name="vmId"/> on <paramref name="vdiId"/>, RW at position 0.</summary>
    public static VbdCreated VbdCreated(Guid vmId, Guid vdiId, Guid? id = null, string userdevice = "0", VbdMode mode = VbdMode.RW) =>
        new(id ?? Guid.NewGuid(), vmId, vdiId, userdevice, mode, VbdType.Disk, true, false, true);

    /// <summary>VifCreated for device "0" of <paramref name="vmId"/> on <paramref name="networkId"/>.</summary>
    public static VifCreated VifCreated(Guid vmId, Guid networkId, Guid? id = null, string device = "0") =>
        new(id ?? Guid.NewGuid(), vmId, networkId, device, "02:00:00:00:00:01", false, 1500);
}
