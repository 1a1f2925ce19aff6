using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor;

/// <summary>Builders for the simulated host's tests: hosts on a <see cref="ManualClock"/>, specs that default everything.</summary>
internal static class Sim
{
    public const long KiB = 1024;
    public const long MiB = 1024 * KiB;
    public const long GiB = 1024 * MiB;

    /// <summary>A bound on how long a test waits for something that should happen at once (never reached when it works).</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A host on <paramref name="clock"/> (a new one by default) whose hotplug scripts answer at once.</summary>
    public static SimulatedXenHost Host(ManualClock? clock = null, long memoryTotal = 32 * GiB, long hostOverhead = GiB, string? stateDirectory = null) =>
        new(Guid.NewGuid(), memoryTotal, hostOverhead, clock ?? new ManualClock(), stateDirectory) { HotplugDelay = TimeSpan.Zero };

    public static DomainSpec Hvm() => new()
    {
        VmId = Guid.NewGuid(),
        Name = "web01",
        DomainType = DomainType.Hvm,
        VcpusMax = 4,
        VcpusAtStartup = 2,
        MemoryStaticMax = 4 * GiB,
        MemoryDynamicMin = 2 * GiB,
        MemoryDynamicMax = 4 * GiB,
        MemoryOverhead = 37 * MiB,
        VcpusParams = new Dictionary<string, string> { ["mask"] = "1,0", ["weight"] = "512" },
        Platform = new Dictionary<string, string> { ["viridian"] = "true", ["device-model"] = "qemu-upstream-compat" },
        BiosStrings = new Dictionary<string, string> { ["bios-vendor"] = "Xen" },
        XenstoreData = new Dictionary<string, string> { ["vm-data/role"] = "frontend", ["secret"] = "x" },
    };

    public static DomainSpec Pv() => new()
    {
        VmId = Guid.NewGuid(),
        Name = "pv01",
        DomainType = DomainType.Pv,
        VcpusMax = 1,
        VcpusAtStartup = 1,
        MemoryStaticMax = GiB,
        MemoryDynamicMin = GiB,
        MemoryDynamicMax = GiB,
        MemoryOverhead = 9 * MiB,
        PvBootloader = "pygrub",
    };

    public static VbdSpec Disk(Guid id, int position, VbdMode mode, Guid? vdi = null) =>
        new() { VbdId = id, Position = position, Mode = mode, Type = VbdType.Disk, VdiId = vdi ?? Guid.NewGuid() };

    public static VifSpec Nic(Guid id, int device) =>
        new() { VifId = id, Device = device, Mac = $"00:16:3e:00:00:{device:x2}", Bridge = "xenbr0", NetworkId = Guid.NewGuid() };

    /// <summary>§6.3 in full (a RW disk at 0, a RO disk at 3, a VIF 0), unpaused; answers the ids of the devices.</summary>
    public static async Task<(Guid Disk, Guid Cd, Guid Nic)> StartAsync(SimulatedXenHost host, DomainSpec spec)
    {
        var (disk, cd, nic) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await host.CreateDomainAsync(spec, Ct);
        await host.BuildDomainAsync(spec.VmId, Ct);
        await host.PlugVbdAsync(spec.VmId, Disk(disk, 0, VbdMode.RW), Ct);
        await host.PlugVbdAsync(spec.VmId, Disk(cd, 3, VbdMode.RO), Ct);
        await host.PlugVifAsync(spec.VmId, Nic(nic, 0), Ct);
        await host.CreateDeviceModelAsync(spec.VmId, Ct);
        await host.ClearActionRequestAsync(spec.VmId, Ct);
        await host.UnpauseAsync(spec.VmId, Ct);
        return (disk, cd, nic);
    }

    /// <summary>The task's result, waiting at most <see cref="Bound"/> of real time.</summary>
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Bound, Ct);

    public static Task Within(this Task task) => task.WaitAsync(Bound, Ct);
}
