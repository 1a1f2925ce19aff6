using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>Domain run states as the inspection API spells them.</summary>
public static class DomainStates
{
    public const string Paused = "paused";
    public const string Running = "running";

    /// <summary>The guest has shut down (powered off, rebooted or crashed); the domain waits to be destroyed.</summary>
    public const string Shutdown = "shutdown";
}

/// <summary>Why a domain shut down (Xen's shutdown codes as xenopsd names them).</summary>
public enum ShutdownReason
{
    Poweroff,
    Reboot,
    Crash,
}

public static class ShutdownReasons
{
    public static string ToWire(this ShutdownReason reason) => reason switch
    {
        ShutdownReason.Poweroff => "poweroff",
        ShutdownReason.Reboot => "reboot",
        ShutdownReason.Crash => "crash",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    public static bool TryParse(string? wire, out ShutdownReason reason)
    {
        foreach (var r in Enum.GetValues<ShutdownReason>())
        {
            if (r.ToWire() == wire)
            {
                reason = r;
                return true;
            }
        }

        reason = default;
        return false;
    }
}

/// <summary>A domain that stopped by itself (<see cref="IHypervisor.DomainStopped"/>).</summary>
public sealed record DomainStopped(Guid VmId, int Domid, ShutdownReason Reason, DateTimeOffset At);

/// <summary>
/// What a booted guest's PV drivers wrote to xenstore: the driver version (<c>attr/PVAddons</c> or
/// <c>drivers/*</c>) and the <c>control/feature-*</c> flags it set to 1 (e.g. <c>feature-shutdown</c>).
/// </summary>
public sealed record GuestAgentInfo(string PvDriversVersion, IReadOnlyList<string> Features);

/// <summary>
/// What the hypervisor reports about one guest domain.
/// <see cref="ActionRequest"/> is the xenstore <c>action-request</c> (<c>poweroff</c> until §6.3 step 8);
/// <see cref="Vbds"/> and <see cref="Vifs"/> are the plugged (hotplug completed) devices in plug order.
/// </summary>
public sealed record DomainInfo(
    int Domid,
    Guid VmId,
    string Name,
    DomainType DomainType,
    string State,
    int Vcpus,
    int VcpusMax,
    long MemoryTarget,
    long MemoryReserved,
    string? ActionRequest,
    bool Built,
    bool DeviceModel,
    DateTimeOffset CreatedAt,
    IReadOnlyList<Guid> Vbds,
    IReadOnlyList<Guid> Vifs,
    int? VncPort)
{
    /// <summary>Set when <see cref="State"/> is <c>shutdown</c>: why the domain shut down.</summary>
    public ShutdownReason? ShutdownReason { get; init; }

    /// <summary>The guest's PV drivers once it has booted with them; null before boot or without PV drivers.</summary>
    public GuestAgentInfo? Guest { get; init; }

    /// <summary>The process running the domain (qemu hosts: its QEMU); null when the backend has none.</summary>
    public int? Pid { get; init; }

    /// <summary>The file the domain's serial console is written to (qemu hosts); null when the backend has none.</summary>
    public string? ConsoleLog { get; init; }

    /// <summary>A QMP socket left free for inspection from outside (qemu hosts); null when the backend has none.</summary>
    public string? MonitorSocket { get; init; }
}

/// <summary>
/// Result of <c>VM_build</c>: the kernel or firmware loaded (PV: the bootloader, e.g. <c>pygrub</c>, or the
/// PV kernel; HVM/PVH: <c>hvmloader</c>), the shadow allocation in MiB, the vCPU hard affinity
/// (<c>all</c> or the mask) and the credit-scheduler weight and cap.
/// </summary>
public sealed record BuildInfo(int Domid, string Kernel, long ShadowMib, string VcpuAffinity, int VcpuWeight, int VcpuCap);

/// <summary>
/// A plugged device: <see cref="Kind"/> is <c>vbd</c> or <c>vif</c>; <see cref="Device"/> is what xapi stores in
/// VBD.device / VIF.device (<c>xvda</c>, <c>0</c>); <see cref="Devid"/> is the xenstore device id.
/// </summary>
public sealed record PlugInfo(Guid DeviceId, string Kind, int Devid, string Device, string FrontendPath, string BackendPath);

/// <summary>
/// The device model started for a domain. <see cref="Kind"/>: the qemu profile for HVM
/// (<c>qemu-upstream-compat</c>, <c>qemu-upstream-uefi</c>), <c>vncterm</c> for a PV text console, <c>none</c>
/// when nothing was needed. <see cref="EmulatedNics"/>: NICs qemu emulates (the first 8 VIFs, HVM only).
/// </summary>
public sealed record DeviceModelInfo(int Domid, string Kind, int? VncPort, int EmulatedNics);

/// <summary>A xenstore node and its subtree (a detached copy): full path, value (empty for directories), children in listing order.</summary>
public sealed record XenstoreNode(string Path, string Value, IReadOnlyList<XenstoreNode> Children)
{
    /// <summary>The last path component ("" for the root).</summary>
    public string Name => Path == "/" ? "" : Path[(Path.LastIndexOf('/') + 1)..];

    /// <summary>The descendant at a path relative to this node (<c>"memory/target"</c>), or null.</summary>
    public XenstoreNode? Find(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        var node = this;
        foreach (var part in relativePath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            node = node.Children.FirstOrDefault(c => c.Name == part);
            if (node is null)
            {
                return null;
            }
        }

        return node;
    }

    /// <summary>The value of a descendant, or null when it does not exist.</summary>
    public string? ValueAt(string relativePath) => Find(relativePath)?.Value;

    /// <summary>Every node of the subtree, this one first, depth first.</summary>
    public IEnumerable<XenstoreNode> Descendants()
    {
        yield return this;
        foreach (var child in Children)
        {
            foreach (var d in child.Descendants())
            {
                yield return d;
            }
        }
    }
}
