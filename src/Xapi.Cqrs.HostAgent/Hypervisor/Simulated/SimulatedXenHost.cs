using System.Globalization;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Memory;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// The <c>simulated</c> backend: an in-process model of one Xen host as xenopsd drives it (XAPI.md §6.3,
/// §6.6, §6.7, modelled on xenopsd's own simulator, §7). One class in several files, one concern each:
/// <list type="bullet">
/// <item>this file: configuration, inspection, fault injection, disposal;</item>
/// <item><c>.Domains</c>: domids, memory (xapi's <see cref="MemoryModel"/>: create reserves
/// [dynamic_min + overhead, dynamic_max + overhead] KiB, granting as much of the range as fits, §5.5), build, device
/// model, pause/unpause, destroy;</item>
/// <item><c>.DomainTree</c>: the xenstore keys of §6.6 a domain's life writes and removes (the store itself is
/// <see cref="Simulated.Xenstore"/>);</item>
/// <item><c>.Devices</c>: VBD/VIF frontends and backends (§6.7), hotplug scripts that answer asynchronously, clean
/// and forced unplug;</item>
/// <item><c>.Guest</c>: what the guest inside does: PV drivers announcing themselves at boot, answering
/// <c>control/shutdown</c>, stopping by itself (<see cref="DomainStopped"/>);</item>
/// <item><c>.Persistence</c> with <see cref="StateStore"/>: the host's state under a directory, so a restarted
/// service finds its domains again (<see cref="SimulatorSettings"/>);</item>
/// <item><see cref="FaultQueue"/>: injected failures and delays per step (<see cref="IFaultInjectable"/>).</item>
/// </list>
/// Thread-safe: one lock guards the host's state, held only for synchronous work (never across an await); the
/// state of a domain is saved under it, so what is on disk is always the state after a completed call.
/// Time (hotplug stages, the guest's answer, timeouts, fault delays) comes from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed partial class SimulatedXenHost : IHypervisor, IFaultInjectable, IDisposable
{
    public const string KindName = "simulated";

    /// <summary>Xen's DOMID_FIRST_RESERVED: guest domids are 1 … 0x7FEF.</summary>
    public const int FirstReservedDomid = 0x7FF0;

    /// <summary>qemu emulates NICs for the first 8 VIFs of an HVM guest.</summary>
    public const int MaxEmulatedNics = 8;

    public const string VifScript = "/etc/xensource/scripts/vif";

    /// <summary>xenopsd's <c>hotplug_timeout</c> default.</summary>
    public static readonly TimeSpan DefaultHotplugTimeout = TimeSpan.FromSeconds(300);

    /// <summary>How long each simulated hotplug stage takes by default.</summary>
    public static readonly TimeSpan DefaultHotplugDelay = TimeSpan.FromMilliseconds(2);

    /// <summary>How long a guest with PV drivers takes by default to act on <c>control/shutdown</c>.</summary>
    public static readonly TimeSpan DefaultGuestShutdownDelay = TimeSpan.FromMilliseconds(20);

    private const string VbdKind = "vbd";
    private const string VifKind = "vif";

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly FaultQueue _faults = new();
    private readonly Dictionary<Guid, SimDomain> _domains = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly StateStore? _store;
    private long _reserved;
    private int _nextDomid = 1;
    private int _nextMinor;
    private TimeSpan _hotplugTimeout = DefaultHotplugTimeout;
    private TimeSpan _hotplugDelay = DefaultHotplugDelay;
    private TimeSpan _guestShutdownDelay = DefaultGuestShutdownDelay;
    private bool _hotplugScripts = true;
    private bool _disposed;

    /// <param name="hostId">The host this models.</param>
    /// <param name="memoryTotal">Host memory in bytes.</param>
    /// <param name="hostOverhead">Memory held by Xen and dom0 (xapi's host memory_overhead), bytes.</param>
    /// <param name="time">Clock for creation times, delays and timeouts.</param>
    /// <param name="stateDirectory">
    /// Where the host keeps its state (a slot of its own per domain, see <see cref="StateStore"/>); the domains found there are
    /// loaded before this constructor returns, their consoles listening again. Null: in memory only.
    /// </param>
    public SimulatedXenHost(Guid hostId, long memoryTotal, long hostOverhead = 0, TimeProvider? time = null, string? stateDirectory = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryTotal);
        ArgumentOutOfRangeException.ThrowIfNegative(hostOverhead);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hostOverhead, memoryTotal);
        HostId = hostId;
        MemoryTotal = memoryTotal;
        HostOverhead = hostOverhead;
        _time = time ?? TimeProvider.System;
        WriteDom0Tree();
        if (stateDirectory is not null)
        {
            _store = new StateStore(stateDirectory);
            LoadState();
        }
    }

    public Guid HostId { get; }

    public string Kind => KindName;

    public long MemoryTotal { get; }

    /// <summary>Memory held by Xen and dom0, never available to guests.</summary>
    public long HostOverhead { get; }

    public long MemoryFree
    {
        get
        {
            lock (_gate)
            {
                return FreeLocked();
            }
        }
    }

    /// <summary>Σ of the domains' reservations.</summary>
    public long MemoryReserved
    {
        get
        {
            lock (_gate)
            {
                return _reserved;
            }
        }
    }

    /// <summary>The directory the host keeps its state in, or null when it keeps it in memory only.</summary>
    public string? StateDirectory => _store?.Root;

    /// <summary>The host's xenstore (tests and the inspection API read it; the host writes it).</summary>
    public Xenstore Xenstore { get; } = new();

    /// <summary>How long a plug (or a clean unplug) waits for the other end before failing INTERNAL_ERROR (default 300 s; Infinite allowed).</summary>
    public TimeSpan HotplugTimeout
    {
        get => Get(ref _hotplugTimeout);
        set => Set(ref _hotplugTimeout, value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "must be positive or infinite"));
    }

    /// <summary>Duration of each simulated hotplug stage (state 2, then connected; the frontend closing on unplug).</summary>
    public TimeSpan HotplugDelay
    {
        get => Get(ref _hotplugDelay);
        set => Set(ref _hotplugDelay, NotNegative(value));
    }

    /// <summary>When false, backends never answer (plugs then time out): models stuck hotplug scripts.</summary>
    public bool HotplugScriptsEnabled
    {
        get => Get(ref _hotplugScripts);
        set => Set(ref _hotplugScripts, value);
    }

    /// <summary>How long a running guest with PV drivers takes to act on a <c>control/shutdown</c> request (default 20 ms).</summary>
    public TimeSpan GuestShutdownDelay
    {
        get => Get(ref _guestShutdownDelay);
        set => Set(ref _guestShutdownDelay, NotNegative(value));
    }

    public IReadOnlyList<HypervisorFault> Faults => _faults.Snapshot();

    public void AddFault(HypervisorFault fault) => _faults.Add(fault);

    public void ClearFaults() => _faults.Clear();

    public DomainInfo? FindDomain(Guid vmId)
    {
        lock (_gate)
        {
            return _domains.TryGetValue(vmId, out var d) ? InfoLocked(d) : null;
        }
    }

    public IReadOnlyList<DomainInfo> ListDomains()
    {
        lock (_gate)
        {
            return [.. _domains.Values.OrderBy(d => d.Domid).Select(InfoLocked)];
        }
    }

    public XenstoreNode? ReadXenstore(string path) => Xenstore.ReadTree(path);

    /// <summary>
    /// Stop every console and background hotplug and fail pending shutdown requests; the host accepts no further calls
    /// and writes nothing more to its state directory (a new instance may load it at once).
    /// </summary>
    public void Dispose()
    {
        List<SimulatedVnc> consoles;
        List<ShutdownRequest> pending;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            consoles = [.. _domains.Values.Select(d => d.Vnc).OfType<SimulatedVnc>()];
            pending = [.. _domains.Values.Select(d => d.ShutdownRequest).OfType<ShutdownRequest>()];
            foreach (var d in _domains.Values)
            {
                d.Vnc = null;
                d.ShutdownRequest = null;
            }
        }

        _lifetime.Cancel();
        foreach (var request in pending)
        {
            request.Done.TrySetException(new ObjectDisposedException(nameof(SimulatedXenHost)));
        }

        foreach (var vnc in consoles)
        {
            vnc.Dispose();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Shared helpers

    private T Get<T>(ref T field)
    {
        lock (_gate)
        {
            return field;
        }
    }

    private void Set<T>(ref T field, T value)
    {
        lock (_gate)
        {
            field = value;
        }
    }

    /// <summary>Wait on the host's clock, for what the host's background actors do; false when the host is disposed meanwhile.</summary>
    private async Task<bool> AfterAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _time, _lifetime.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static TimeSpan NotNegative(TimeSpan value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
        return value;
    }

    /// <summary>Wait the delay of the step's next injected fault (if any), then throw its error (if any).</summary>
    private Task ApplyFaultAsync(HypervisorStep step, Guid vmId, long needed, CancellationToken ct) =>
        _faults.ApplyAsync(step, vmId, _time, code => code switch
        {
            ErrorCodes.HostNotEnoughFreeMemory => [Str(needed), Str(MemoryFree)],
            ErrorCodes.FailedToStartEmulator => [vmId.ToString(), FindDomain(vmId) is { } d ? $"qemu-dm-{d.Domid}" : "qemu-dm", FaultQueue.Text(step)],
            _ => null,
        }, ct);

    private SimDomain GetLocked(Guid vmId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _domains.TryGetValue(vmId, out var d) ? d : throw HypervisorException.NoDomain(vmId);
    }

    private long FreeLocked() => Math.Max(0, MemoryTotal - HostOverhead - _reserved);

    private DomainInfo InfoLocked(SimDomain d) => new(
        d.Domid,
        d.Spec.VmId,
        d.Name,
        d.Spec.DomainType,
        ToWire(d.Power),
        d.Spec.VcpusAtStartup,
        d.Spec.VcpusMax,
        d.MemoryTarget,
        d.Reserved,
        Xenstore.Read($"{d.DomPath}/action-request"),
        d.Build is not null,
        d.DeviceModel is not null,
        d.CreatedAt,
        [.. d.Vbds.Where(v => v.Plugged).Select(v => v.Id)],
        [.. d.Vifs.Where(v => v.Plugged).Select(v => v.Id)],
        d.Vnc?.Port)
    {
        ShutdownReason = d.Power == Power.Shutdown ? d.Reason : null,
        Guest = GuestLocked(d),
    };

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);
}
