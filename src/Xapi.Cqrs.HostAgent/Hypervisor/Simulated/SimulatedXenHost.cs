using System.Globalization;
using System.Net.Sockets;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// The <c>simulated</c> backend: an in-process model of one Xen host as xenopsd drives it (XAPI.md §6.3,
/// §6.6, §6.7, modelled on xenopsd's own simulator, §7) —
/// <list type="bullet">
/// <item>domids: the counter starts at highest existing + 1 (dom0 = 0 always exists, so 1) and is then
/// incremented, never reusing a freed domid until it wraps below DOMID_FIRST_RESERVED (0x7FF0);</item>
/// <item>memory: <c>MemoryFree = MemoryTotal − host overhead (dom0, Xen) − Σ reservations</c>; create reserves
/// [dynamic_min + overhead, dynamic_max + overhead] rounded up to KiB (§5.5), granting as much of the range as
/// fits and failing HOST_NOT_ENOUGH_FREE_MEMORY [needed; available] when even the lower bound does not;
/// the balloon target is min(dynamic_max, granted − overhead); destroy frees the reservation;</item>
/// <item>a real hierarchical <see cref="Simulated.Xenstore"/> written with the keys of §6.6/§6.7;</item>
/// <item>device backends whose hotplug "scripts" run asynchronously: backend state 1 → 2, then physical-device,
/// both ends → 4, the <c>/xapi/…/hotplug</c> node and backend <c>hotplug-status=connected</c>; a plug waits for
/// that (backend hotplug-status for VBDs, the hotplug node for VIFs) up to <see cref="HotplugTimeout"/>;</item>
/// <item>a device model whose console is a real RFB listener on 127.0.0.1 (<see cref="SimulatedVnc"/>);</item>
/// <item>fault injection per step (<see cref="IFaultInjectable"/>).</item>
/// </list>
/// Thread-safe: one lock guards the host's state, held only for synchronous work (never across an await).
/// Simplified model choices: VBD <c>params</c> is <c>/dev/sm/backend/&lt;vdi&gt;</c>; PV store/console ports are 1/2
/// and HVM ones follow one event channel per vCPU (CA-140252); HVM ring-refs are the usual special pages
/// 0xFEFFC/0xFEFFF; shadow is §5.2's shadow_mib with the VM's multiplier (0 for PV); vCPU parameters are
/// recorded under <c>/local/domain/&lt;domid&gt;/vcpu-params/{affinity,weight,cap}</c>.
/// </summary>
public sealed class SimulatedXenHost : IHypervisor, IFaultInjectable, IDisposable
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

    private const long KiB = 1024;
    private const long MiB = 1024 * 1024;
    private const string Dom0Backend = "/local/domain/0/backend";
    private const string Dom0DeviceModel = "/local/domain/0/device-model";
    private const string HvmStoreRingRef = "1044476";
    private const string HvmConsoleRingRef = "1044479";
    private const int ConsoleLimit = 65536;

    private static readonly string[] GuestWritableDirs =
    [
        "device", "device/vbd", "device/9pfs", "device/vif", "feature", "error", "drivers", "control", "attr",
        "xenserver/attr", "data", "messages", "vm-data", "hvmloader", "rrd",
    ];

    private static readonly string[] XenopsDeviceDirs = ["device", "device/vbd", "device/9pfs", "device/vif"];

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly FaultQueue _faults = new();
    private readonly Dictionary<Guid, SimDomain> _domains = [];
    private readonly CancellationTokenSource _lifetime = new();
    private long _reserved;
    private int _nextDomid = 1;
    private int _nextMinor;
    private TimeSpan _hotplugTimeout = DefaultHotplugTimeout;
    private TimeSpan _hotplugDelay = DefaultHotplugDelay;
    private bool _hotplugScripts = true;
    private bool _disposed;

    /// <param name="hostId">The host this models.</param>
    /// <param name="memoryTotal">Host memory in bytes.</param>
    /// <param name="hostOverhead">Memory held by Xen and dom0 (xapi's host memory_overhead), bytes.</param>
    /// <param name="time">Clock for creation times, delays and timeouts.</param>
    public SimulatedXenHost(Guid hostId, long memoryTotal, long hostOverhead = 0, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryTotal);
        ArgumentOutOfRangeException.ThrowIfNegative(hostOverhead);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hostOverhead, memoryTotal);
        HostId = hostId;
        MemoryTotal = memoryTotal;
        HostOverhead = hostOverhead;
        _time = time ?? TimeProvider.System;
        Xenstore.Transaction(() =>
        {
            Xenstore.Write("/local/domain/0/name", "Domain-0");
            Xenstore.Write("/local/domain/0/domid", "0");
            Xenstore.Write("/local/domain/0/memory/target", (hostOverhead / KiB).ToString(CultureInfo.InvariantCulture));
            Xenstore.Mkdir(Dom0Backend);
            Xenstore.Mkdir(Dom0DeviceModel);
            Xenstore.Mkdir("/vm");
            Xenstore.Mkdir("/libxl");
            Xenstore.Mkdir("/xenops/domain");
            Xenstore.Mkdir("/xapi");
        });
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

    /// <summary>The host's xenstore (tests and the inspection API read it; the host writes it).</summary>
    public Xenstore Xenstore { get; } = new();

    /// <summary>How long a plug waits for hotplug before failing INTERNAL_ERROR (default 300 s; Infinite allowed).</summary>
    public TimeSpan HotplugTimeout
    {
        get { lock (_gate) { return _hotplugTimeout; } }
        set
        {
            if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "must be positive or infinite");
            }

            lock (_gate)
            {
                _hotplugTimeout = value;
            }
        }
    }

    /// <summary>Duration of each simulated hotplug stage (state 2, then connected).</summary>
    public TimeSpan HotplugDelay
    {
        get { lock (_gate) { return _hotplugDelay; } }
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            lock (_gate)
            {
                _hotplugDelay = value;
            }
        }
    }

    /// <summary>When false, backends never answer (plugs then time out): models stuck hotplug scripts.</summary>
    public bool HotplugScriptsEnabled
    {
        get { lock (_gate) { return _hotplugScripts; } }
        set { lock (_gate) { _hotplugScripts = value; } }
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

    public async Task<DomainInfo> CreateDomainAsync(DomainSpec spec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ct.ThrowIfCancellationRequested();
        var lower = RoundUpToKiB(spec.MemoryDynamicMin + spec.MemoryOverhead);
        await ApplyFaultAsync(HypervisorStep.Create, spec.VmId, lower, ct).ConfigureAwait(false);
        Validate(spec);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_domains.TryGetValue(spec.VmId, out var existing))
            {
                throw HypervisorException.Internal($"Already_exists: VM {spec.VmId} already has domain {existing.Domid}");
            }

            // §5.5: reserve [dynamic_min + overhead, dynamic_max + overhead] KiB, as much as fits.
            var upper = RoundUpToKiB(spec.MemoryDynamicMax + spec.MemoryOverhead);
            var free = FreeLocked();
            if (free < lower)
            {
                throw new HypervisorException(ErrorCodes.HostNotEnoughFreeMemory, Str(lower), Str(free));
            }

            var granted = Math.Min(upper, free / KiB * KiB);
            var target = Math.Min(spec.MemoryDynamicMax, granted - spec.MemoryOverhead);
            var domid = AllocateDomidLocked();
            var domain = new SimDomain(domid, spec, granted, target, _time.GetUtcNow());
            WriteDomainTreeLocked(domain);
            _domains.Add(spec.VmId, domain);
            _reserved += granted;
            return InfoLocked(domain);
        }
    }

    public async Task<BuildInfo> BuildDomainAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.Build, vmId, 0, ct).ConfigureAwait(false);
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.Build is { } built)
            {
                return built;
            }

            var spec = d.Spec;
            var (affinity, weight, cap) = VcpuParameters(spec);
            var info = new BuildInfo(d.Domid, KernelOf(spec), ShadowMib(spec), affinity, weight, cap);
            var hvmContainer = spec.DomainType is not DomainType.Pv;
            var (storePort, consolePort) = hvmContainer ? (spec.VcpusMax + 1, spec.VcpusMax + 2) : (1, 2);
            var pages = spec.MemoryStaticMax / 4096;
            var (storeRing, consoleRing) = hvmContainer
                ? (HvmStoreRingRef, HvmConsoleRingRef)
                : (Str(Math.Max(pages - 2, 0)), Str(Math.Max(pages - 1, 0)));
            var dom = d.DomPath;
            Xenstore.Transaction(() =>
            {
                // Domain.build_post + console_keys
                Xenstore.Write($"{dom}/memory/static-max", Str(RoundUpToKiB(spec.MemoryStaticMax) / KiB));
                Xenstore.Write($"{dom}/memory/target", Str(d.MemoryTarget / KiB));
                Xenstore.Write($"{dom}/domid", Str(d.Domid));
                Xenstore.Write($"{dom}/store/port", Str(storePort));
                Xenstore.Write($"{dom}/store/ring-ref", storeRing);
                Xenstore.Write($"{dom}/serial/0/limit", Str(ConsoleLimit));
                Xenstore.Write($"{dom}/console/port", Str(consolePort));
                Xenstore.Write($"{dom}/console/ring-ref", consoleRing);
                Xenstore.Write($"{dom}/console/limit", Str(ConsoleLimit));
                Xenstore.Write($"{dom}/vcpu-params/affinity", affinity);
                Xenstore.Write($"{dom}/vcpu-params/weight", Str(weight));
                Xenstore.Write($"{dom}/vcpu-params/cap", Str(cap));
                if (hvmContainer)
                {
                    var offset = spec.Platform.TryGetValue("timeoffset", out var t) && t.Length > 0 ? t : "0";
                    Xenstore.Write($"{d.VmPath}/rtc/timeoffset", offset);
                }

                Xenstore.Write($"/libxl/{d.Domid}/type", LibxlType(spec.DomainType));
            });
            d.Build = info;
            return info;
        }
    }

    public async Task<PlugInfo> PlugVbdAsync(Guid vmId, VbdSpec vbd, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(vbd);
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.VbdPlug, vmId, 0, ct).ConfigureAwait(false);
        if (vbd.Position is < 0 or > DeviceNames.MaxControlDomainPosition)
        {
            throw HypervisorException.Internal($"Invalid device position {vbd.Position} for VBD {vbd.VbdId}");
        }

        if (string.IsNullOrWhiteSpace(vbd.BackendKind) || vbd.BackendKind.Contains('/', StringComparison.Ordinal))
        {
            throw HypervisorException.Internal($"Invalid backend kind '{vbd.BackendKind}' for VBD {vbd.VbdId}");
        }

        SimDevice dev;
        HotplugSettings hotplug;
        lock (_gate)
        {
            var d = GetLocked(vmId);
            var name = DeviceNames.XvdName(vbd.Position);
            if (d.Vbds.Find(v => v.Position == vbd.Position) is { } taken)
            {
                throw HypervisorException.Internal(
                    $"Already_exists: vbd {name} (position {vbd.Position}) of domain {d.Domid} is used by VBD {taken.Id}");
            }

            if (d.Vbds.Exists(v => v.Id == vbd.VbdId))
            {
                throw HypervisorException.Internal($"Already_exists: VBD {vbd.VbdId} is already plugged into domain {d.Domid}");
            }

            dev = new SimDevice(d, vbd.VbdId, "vbd", vbd.BackendKind, DeviceNames.XenstoreDevid(vbd.Position), vbd.Position, name, vbd.Empty);
            if (Xenstore.Exists(dev.XenopsPath))
            {
                throw HypervisorException.Internal($"Device_frontend_already_connected: {dev.XenopsPath}");
            }

            var mode = vbd.Mode == VbdMode.RO || vbd.Type == VbdType.CD ? "r" : "w";
            var deviceType = vbd.Type switch { VbdType.CD => "cdrom", VbdType.Floppy => "floppy", _ => "disk" };
            var parameters = vbd.Empty || vbd.VdiId is null ? "" : $"/dev/sm/backend/{vbd.VdiId}";
            AddDeviceLocked(
                dev,
                [("backend-id", "0"), ("state", "1"), ("virtual-device", Str(dev.Devid)), ("device-type", deviceType)],
                [
                    ("frontend-id", Str(d.Domid)), ("online", "1"), ("removable", vbd.Unpluggable ? "1" : "0"), ("state", "1"),
                    ("dev", name), ("type", vbd.Empty ? "" : "phy"), ("mode", mode), ("params", parameters),
                ],
                [("vdi", vbd.VdiId?.ToString() ?? ""), ("mode", mode)]);
            d.Vbds.Add(dev);
            hotplug = HotplugSettingsLocked();
        }

        await CompletePlugAsync(dev, hotplug, ct).ConfigureAwait(false);
        return new PlugInfo(vbd.VbdId, "vbd", dev.Devid, dev.Device, dev.FrontendPath, dev.BackendPath);
    }

    public async Task<PlugInfo> PlugVifAsync(Guid vmId, VifSpec vif, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(vif);
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.VifPlug, vmId, 0, ct).ConfigureAwait(false);
        if (vif.Device < 0)
        {
            throw HypervisorException.Internal($"Invalid device number {vif.Device} for VIF {vif.VifId}");
        }

        if (string.IsNullOrWhiteSpace(vif.Bridge) || string.IsNullOrWhiteSpace(vif.Mac))
        {
            throw HypervisorException.Internal($"VIF {vif.VifId} needs a MAC and a bridge");
        }

        SimDevice dev;
        HotplugSettings hotplug;
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.Vifs.Find(v => v.Devid == vif.Device) is { } taken)
            {
                throw HypervisorException.Internal($"Already_exists: vif {vif.Device} of domain {d.Domid} is used by VIF {taken.Id}");
            }

            if (d.Vifs.Exists(v => v.Id == vif.VifId))
            {
                throw HypervisorException.Internal($"Already_exists: VIF {vif.VifId} is already plugged into domain {d.Domid}");
            }

            dev = new SimDevice(d, vif.VifId, "vif", "vif", vif.Device, vif.Device, Str(vif.Device), empty: false);
            if (Xenstore.Exists(dev.XenopsPath))
            {
                throw HypervisorException.Internal($"Device_frontend_already_connected: {dev.XenopsPath}");
            }

            List<(string, string)> front =
                [("backend-id", "0"), ("state", "1"), ("handle", Str(vif.Device)), ("mac", vif.Mac), ("disconnect", "0")];
            if (vif.Mtu > 0)
            {
                front.Add(("mtu", Str(vif.Mtu)));
            }

            AddDeviceLocked(
                dev,
                front,
                [
                    ("frontend-id", Str(d.Domid)), ("online", "1"), ("state", "1"), ("script", VifScript), ("mac", vif.Mac),
                    ("handle", Str(vif.Device)), ("bridge", vif.Bridge),
                ],
                [("mac", vif.Mac), ("MTU", Str(vif.Mtu)), ("bridge", vif.Bridge), ("network-uuid", vif.NetworkId.ToString())]);
            d.Vifs.Add(dev);
            hotplug = HotplugSettingsLocked();
        }

        await CompletePlugAsync(dev, hotplug, ct).ConfigureAwait(false);
        return new PlugInfo(vif.VifId, "vif", dev.Devid, dev.Device, dev.FrontendPath, dev.BackendPath);
    }

    public async Task<DeviceModelInfo> CreateDeviceModelAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.DeviceModel, vmId, 0, ct).ConfigureAwait(false);
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.DeviceModel is { } running)
            {
                return running;
            }

            if (d.Build is null)
            {
                throw HypervisorException.Internal($"Domain_not_built: domain {d.Domid} of VM {vmId} must be built before its device model starts");
            }

            var spec = d.Spec;
            var hvm = spec.DomainType == DomainType.Hvm;
            string kind;
            int nics;
            if (hvm)
            {
                kind = spec.Platform.TryGetValue("device-model", out var profile) && profile == "qemu-upstream-uefi"
                    ? profile
                    : "qemu-upstream-compat";
                nics = Math.Min(MaxEmulatedNics, d.Vifs.Count(v => v.Plugged));
            }
            else
            {
                kind = spec.DisablePvVnc ? "none" : "vncterm";
                nics = 0;
            }

            SimulatedVnc? vnc = null;
            if (kind != "none")
            {
                try
                {
                    vnc = hvm ? SimulatedVnc.Start(d.Name, 1024, 768) : SimulatedVnc.Start(d.Name, 720, 400);
                }
                catch (SocketException e)
                {
                    throw new HypervisorException(
                        ErrorCodes.FailedToStartEmulator, vmId.ToString(), hvm ? $"qemu-dm-{d.Domid}" : "vncterm", e.Message);
                }
            }

            Xenstore.Transaction(() =>
            {
                if (vnc is not null)
                {
                    Xenstore.Write($"{d.DomPath}/console/vnc-port", Str(vnc.Port));
                }

                if (hvm)
                {
                    Xenstore.Write($"{Dom0DeviceModel}/{d.Domid}/state", "running");
                }
            });
            d.Vnc = vnc;
            d.DeviceModel = new DeviceModelInfo(d.Domid, kind, vnc?.Port, nics);
            return d.DeviceModel;
        }
    }

    public Task ClearActionRequestAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var d = GetLocked(vmId);
            Xenstore.Remove($"{d.DomPath}/action-request");
        }

        return Task.CompletedTask;
    }

    public async Task UnpauseAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.Unpause, vmId, 0, ct).ConfigureAwait(false);
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.Build is null || (d.Spec.DomainType == DomainType.Hvm && d.DeviceModel is null))
            {
                throw HypervisorException.Internal(
                    $"Domain_not_built: domain {d.Domid} of VM {vmId} is not built" + (d.Build is null ? "" : " (no device model)"));
            }

            d.Running = true;
        }
    }

    /// <summary>Idempotent, and not cancellable: cleanup always completes.</summary>
    // Placeholders until the simulator implements the lifecycle calls (work in progress, replaced in the same change).
    public event EventHandler<DomainStopped>? DomainStopped;

    public Task PauseAsync(Guid vmId, CancellationToken ct) => throw new NotSupportedException(nameof(PauseAsync) + DomainStopped?.ToString());

    public Task UnplugVbdAsync(Guid vmId, Guid vbdId, CancellationToken ct) => throw new NotSupportedException(nameof(UnplugVbdAsync));

    public Task UnplugVifAsync(Guid vmId, Guid vifId, CancellationToken ct) => throw new NotSupportedException(nameof(UnplugVifAsync));

    public Task<bool> ShutdownAsync(Guid vmId, ShutdownReason reason, TimeSpan timeout, CancellationToken ct) => throw new NotSupportedException(nameof(ShutdownAsync));

    public Task DestroyDomainAsync(Guid vmId, CancellationToken ct)
    {
        SimulatedVnc? vnc;
        lock (_gate)
        {
            if (!_domains.Remove(vmId, out var d))
            {
                return Task.CompletedTask;
            }

            d.Destroyed = true;
            vnc = d.Vnc;
            d.Vnc = null;
            _reserved -= d.Reserved;
            var domid = Str(d.Domid);
            Xenstore.Transaction(() =>
            {
                // Domain.destroy: the /vm back-pointer, the domain's trees, every backend, the device model,
                // the hotplug tree; with no other domain of this VM left, its private and /vm trees too.
                Xenstore.Remove($"{d.VmPath}/domains/{domid}");
                Xenstore.Remove(d.DomPath);
                Xenstore.Remove($"/xenops/domain/{domid}");
                Xenstore.Remove($"/libxl/{domid}");
                foreach (var root in new[] { Dom0Backend, "/local/domain/0/xenserver/backend" })
                {
                    foreach (var kind in Xenstore.Directory(root))
                    {
                        Xenstore.Remove($"{root}/{kind}/{domid}");
                    }
                }

                Xenstore.Remove($"{Dom0DeviceModel}/{domid}");
                Xenstore.Remove($"/xapi/{vmId}/hotplug/{domid}");
                if (Xenstore.Directory($"{d.VmPath}/domains").Count == 0)
                {
                    Xenstore.Remove($"/xapi/{vmId}");
                    Xenstore.Remove(d.VmPath);
                }
            });
        }

        vnc?.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Stop every console and background hotplug; the host accepts no further calls.</summary>
    public void Dispose()
    {
        List<SimulatedVnc> consoles;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            consoles = [.. _domains.Values.Select(d => d.Vnc).OfType<SimulatedVnc>()];
            foreach (var d in _domains.Values)
            {
                d.Vnc = null;
            }
        }

        _lifetime.Cancel();
        foreach (var vnc in consoles)
        {
            vnc.Dispose();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Domain creation

    private void WriteDomainTreeLocked(SimDomain d)
    {
        var spec = d.Spec;
        var dom = d.DomPath;
        var vm = d.VmPath;
        var xenops = $"/xenops/domain/{d.Domid}";
        var libxl = $"/libxl/{d.Domid}";
        var createTime = _time.GetElapsedTime(0, _time.GetTimestamp()).Ticks * 100; // monotonic ns, as Mtime
        Xenstore.Transaction(() =>
        {
            // Domain.make: clear rubbish, then the three trees
            Xenstore.Remove(dom);
            Xenstore.Remove(xenops);
            Xenstore.Remove(libxl);
            Xenstore.Mkdir(dom);
            Xenstore.Mkdir(xenops);
            Xenstore.Mkdir(libxl);
            if (!Xenstore.Exists(vm))
            {
                Xenstore.Write($"{vm}/uuid", spec.VmId.ToString());
                Xenstore.Write($"{vm}/name", d.Name);
            }

            Xenstore.Write($"{vm}/domains/{d.Domid}", dom);
            Xenstore.Write($"{vm}/domains/{d.Domid}/create-time", Str(createTime));
            Xenstore.Write($"{dom}/vm", vm);
            Xenstore.Write($"{dom}/name", d.Name);
            Xenstore.Mkdir($"{dom}/cpu");
            Xenstore.Mkdir($"{dom}/memory");
            foreach (var dir in GuestWritableDirs)
            {
                Xenstore.Mkdir($"{dom}/{dir}");
            }

            foreach (var dir in XenopsDeviceDirs)
            {
                Xenstore.Mkdir($"{xenops}/{dir}");
            }

            foreach (var (key, value) in spec.XenstoreData)
            {
                if (key.StartsWith("vm-data/", StringComparison.Ordinal) || key.StartsWith("FIST/", StringComparison.Ordinal))
                {
                    Xenstore.Write($"{dom}/{key}", value);
                }
            }

            foreach (var (key, value) in spec.Platform)
            {
                Xenstore.Write($"{dom}/platform/{key}", value);
            }

            foreach (var (key, value) in spec.BiosStrings)
            {
                Xenstore.Write($"{dom}/bios-strings/{key}", value);
            }

            if (spec.DomainType == DomainType.Hvm)
            {
                if (spec.Firmware == "uefi")
                {
                    Xenstore.Write($"{dom}/hvmloader/bios", "ovmf");
                }

                var barUc = spec.Platform.TryGetValue("xen-platform-pci-bar-uc", out var v) && v is "0" or "false" ? "0" : "1";
                Xenstore.Write($"{dom}/hvmloader/pci/xen-platform-pci-bar-uc", barUc);
            }

            Xenstore.Write($"{dom}/action-request", "poweroff");
            Xenstore.Write($"{dom}/control/platform-feature-multiprocessor-suspend", "1");
            Xenstore.Write($"{dom}/control/platform-feature-xs_reset_watches", "1");
            Xenstore.Write($"{dom}/control/has-vendor-device", spec.HasVendorDevice ? "1" : "0");
            Xenstore.Write($"{dom}/unique-domain-id", Guid.NewGuid().ToString());
            Xenstore.Write($"{dom}/domid", Str(d.Domid));

            // VM.create_exn: balloon target and the range squeezed works in, KiB
            Xenstore.Write($"{dom}/memory/initial-target", Str(d.MemoryTarget / KiB));
            Xenstore.Write($"{dom}/memory/target", Str(d.MemoryTarget / KiB));
            Xenstore.Write($"{dom}/memory/static-max", Str(RoundUpToKiB(spec.MemoryStaticMax) / KiB));
            Xenstore.Write($"{dom}/memory/dynamic-min", Str(RoundUpToKiB(spec.MemoryDynamicMin) / KiB));
            Xenstore.Write($"{dom}/memory/dynamic-max", Str(RoundUpToKiB(spec.MemoryDynamicMax) / KiB));
            for (var n = 0; n < spec.VcpusMax; n++)
            {
                Xenstore.Write($"{dom}/cpu/{n}/availability", n < spec.VcpusAtStartup ? "online" : "offline");
            }

            Xenstore.Write($"{dom}/domain-type", XenstoreDomainType(spec.DomainType));
            Xenstore.Write($"{libxl}/type", LibxlType(spec.DomainType));
        });
    }

    private int AllocateDomidLocked()
    {
        var domid = _nextDomid;
        while (true)
        {
            if (domid >= FirstReservedDomid)
            {
                domid = 1;
            }

            var candidate = domid;
            if (!_domains.Values.Any(d => d.Domid == candidate))
            {
                break;
            }

            domid++;
        }

        _nextDomid = domid + 1;
        return domid;
    }

    private static void Validate(DomainSpec spec)
    {
        if (spec.VmId == Guid.Empty)
        {
            throw HypervisorException.Internal("VM id must not be empty");
        }

        if (spec.DomainType is DomainType.Unspecified || !Enum.IsDefined(spec.DomainType))
        {
            throw HypervisorException.Internal($"VM {spec.VmId}: domain_type {spec.DomainType.ToWire()} cannot be started");
        }

        if (spec.VcpusMax < 1 || spec.VcpusAtStartup < 1 || spec.VcpusAtStartup > spec.VcpusMax)
        {
            throw HypervisorException.Internal(
                $"Invalid_vcpus: VM {spec.VmId} has VCPUs_at_startup={spec.VcpusAtStartup}, VCPUs_max={spec.VcpusMax}");
        }

        if (spec.MemoryDynamicMin < 0 || spec.MemoryOverhead < 0 || spec.MemoryDynamicMax <= 0
            || spec.MemoryDynamicMin > spec.MemoryDynamicMax || spec.MemoryDynamicMax > spec.MemoryStaticMax)
        {
            throw HypervisorException.Internal(
                $"VM {spec.VmId}: invalid memory (dynamic {spec.MemoryDynamicMin}..{spec.MemoryDynamicMax}, static max {spec.MemoryStaticMax}, overhead {spec.MemoryOverhead})");
        }

        if (!double.IsFinite(spec.HvmShadowMultiplier) || spec.HvmShadowMultiplier <= 0)
        {
            throw HypervisorException.Internal($"VM {spec.VmId}: invalid HVM shadow multiplier {spec.HvmShadowMultiplier}");
        }

        foreach (var key in spec.Platform.Keys.Concat(spec.BiosStrings.Keys))
        {
            if (key.Length == 0 || key.Contains('/', StringComparison.Ordinal) || key.Any(char.IsWhiteSpace))
            {
                throw HypervisorException.Internal($"VM {spec.VmId}: '{key}' is not a valid xenstore key");
            }
        }

        foreach (var key in spec.XenstoreData.Keys)
        {
            if (key.Split('/').Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace)))
            {
                throw HypervisorException.Internal($"VM {spec.VmId}: '{key}' is not a valid xenstore path");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Build

    /// <summary>PV: the bootloader when set, else the PV kernel, else pygrub; HVM and PVH: hvmloader.</summary>
    private static string KernelOf(DomainSpec spec) => spec.DomainType switch
    {
        DomainType.Pv or DomainType.PvInPvh when spec.PvBootloader.Length > 0 => spec.PvBootloader,
        DomainType.Pv or DomainType.PvInPvh when spec.PvKernel.Length > 0 => spec.PvKernel,
        DomainType.Pv or DomainType.PvInPvh => "pygrub",
        _ => "hvmloader",
    };

    /// <summary>
    /// §5.2 shadow_mib: max(1, ⌊⌈(256·vcpus_max + 2·static_max_mib)/256⌉ × multiplier⌋) for domains in an HVM
    /// container; PV guests get no shadow allocation (the Linux memory model has none).
    /// </summary>
    internal static long ShadowMib(DomainSpec spec)
    {
        if (spec.DomainType == DomainType.Pv)
        {
            return 0;
        }

        var staticMaxMib = CeilDiv(spec.MemoryStaticMax, MiB);
        var mib = CeilDiv((256L * spec.VcpusMax) + (2 * staticMaxMib), 256);
        return Math.Max(1, (long)Math.Floor(mib * spec.HvmShadowMultiplier));
    }

    private static (string Affinity, int Weight, int Cap) VcpuParameters(DomainSpec spec)
    {
        var affinity = "all";
        if (spec.VcpusParams.TryGetValue("mask", out var mask) && !string.IsNullOrWhiteSpace(mask))
        {
            var cpus = new List<int>();
            foreach (var part in mask.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var cpu))
                {
                    throw HypervisorException.Internal($"VM {spec.VmId}: invalid VCPUs_params:mask '{mask}'");
                }

                cpus.Add(cpu);
            }

            affinity = string.Join(',', cpus.Distinct().Order());
        }

        var weight = spec.VcpusParams.TryGetValue("weight", out var w)
            && int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out var wv) && wv > 0
            ? wv
            : DomainSpec.DefaultVcpuWeight;
        var cap = spec.VcpusParams.TryGetValue("cap", out var c)
            && int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out var cv)
            ? cv
            : DomainSpec.DefaultVcpuCap;
        return (affinity, weight, cap);
    }

    // ---------------------------------------------------------------------------------------------
    // Devices

    /// <summary>Generic.add_device: frontend, the read-only frontend copy, backend, private data, active flag.</summary>
    private void AddDeviceLocked(
        SimDevice dev,
        IEnumerable<(string Key, string Value)> front,
        IEnumerable<(string Key, string Value)> back,
        IEnumerable<(string Key, string Value)> privateData)
    {
        Xenstore.Transaction(() =>
        {
            Xenstore.Remove(dev.FrontendPath);
            Xenstore.Remove(dev.XenopsPath);
            Xenstore.Remove(dev.BackendPath);
            Xenstore.Write($"{dev.FrontendPath}/backend", dev.BackendPath);
            foreach (var (key, value) in front)
            {
                Xenstore.Write($"{dev.FrontendPath}/{key}", value);
            }

            Xenstore.Write($"{dev.XenopsPath}/backend", dev.BackendPath);
            Xenstore.Write($"{dev.BackendPath}/frontend", dev.FrontendPath);
            foreach (var (key, value) in back)
            {
                Xenstore.Write($"{dev.BackendPath}/{key}", value);
            }

            Xenstore.Mkdir(dev.HotplugDir);
            Xenstore.Write($"{dev.PrivatePath}/backend-kind", dev.BackendKind);
            Xenstore.Write($"{dev.PrivatePath}/backend-id", "0");
            foreach (var (key, value) in privateData)
            {
                Xenstore.Write($"{dev.PrivatePath}/{key}", value);
            }

            Xenstore.Write(dev.ActivePath, "1"); // VBD_set_active / VIF_set_active
        });
    }

    private async Task CompletePlugAsync(SimDevice dev, HotplugSettings hotplug, CancellationToken ct)
    {
        if (hotplug.ScriptsEnabled)
        {
            _ = RunHotplugScriptsAsync(dev, hotplug.Delay);
        }

        try
        {
            await WaitForHotplugAsync(dev, hotplug.Timeout, ct).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                RemoveDeviceLocked(dev);
            }

            throw;
        }

        lock (_gate)
        {
            if (!IsLiveLocked(dev))
            {
                throw HypervisorException.Internal($"Does_not_exist: domain {dev.Domain.Domid} was destroyed during {dev.Kind} plug");
            }

            dev.Plugged = true;
        }
    }

    /// <summary>What the udev-triggered block/vif scripts and the backend drivers do after the toolstack wrote the device.</summary>
    private async Task RunHotplugScriptsAsync(SimDevice dev, TimeSpan delay)
    {
        var token = _lifetime.Token;
        try
        {
            await Task.Delay(delay, _time, token).ConfigureAwait(false);
            lock (_gate)
            {
                if (!IsLiveLocked(dev))
                {
                    return;
                }

                Xenstore.Write($"{dev.BackendPath}/state", "2"); // InitWait
            }

            await Task.Delay(delay, _time, token).ConfigureAwait(false);
            lock (_gate)
            {
                if (!IsLiveLocked(dev))
                {
                    return;
                }

                var minor = _nextMinor++;
                Xenstore.Transaction(() =>
                {
                    if (dev.Kind == "vbd" && !dev.Empty)
                    {
                        Xenstore.Write($"{dev.BackendPath}/physical-device", $"fe:{minor:x}");
                    }

                    Xenstore.Write($"{dev.FrontendPath}/state", "4"); // Connected
                    Xenstore.Write($"{dev.BackendPath}/state", "4");
                    Xenstore.Write(dev.HotplugPath, "online");
                    Xenstore.Write($"{dev.BackendPath}/hotplug-status", "connected");
                });
            }
        }
        catch (OperationCanceledException)
        {
            // the host is shutting down
        }
    }

    /// <summary>Hotplug.wait_for_plug: VBDs wait for backend hotplug-status, VIFs for the /xapi hotplug node; hotplug-error fails.</summary>
    private async Task WaitForHotplugAsync(SimDevice dev, TimeSpan timeout, CancellationToken ct)
    {
        var signal = new Signal();
        using var backendWatch = Xenstore.Watch(dev.BackendPath, _ => signal.Set());
        using var hotplugWatch = Xenstore.Watch(dev.HotplugPath, _ => signal.Set());
        var started = _time.GetTimestamp();
        while (true)
        {
            var wake = signal.Arm();
            if (Xenstore.Read($"{dev.BackendPath}/hotplug-error") is { } error)
            {
                throw HypervisorException.Internal($"Device_error: {dev.Kind} {dev.Devid} of domain {dev.Domain.Domid}: {error}");
            }

            if (!Xenstore.Exists(dev.BackendPath))
            {
                throw HypervisorException.Internal($"Device_not_found: {dev.Kind} {dev.Devid} of domain {dev.Domain.Domid} vanished during hotplug");
            }

            var done = dev.Kind == "vbd"
                ? Xenstore.Read($"{dev.BackendPath}/hotplug-status") == "connected"
                : Xenstore.Read(dev.HotplugPath) == "online";
            if (done)
            {
                return;
            }

            if (timeout == Timeout.InfiniteTimeSpan)
            {
                await wake.WaitAsync(ct).ConfigureAwait(false);
                continue;
            }

            var remaining = timeout - _time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                throw HypervisorException.Internal(
                    $"Hotplug timeout: {dev.Kind} {dev.Devid} of domain {dev.Domain.Domid} not connected after {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
            }

            try
            {
                await wake.WaitAsync(remaining, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // look once more, then give up
            }
        }
    }

    private void RemoveDeviceLocked(SimDevice dev)
    {
        if (!IsLiveLocked(dev))
        {
            return;
        }

        var list = dev.Kind == "vbd" ? dev.Domain.Vbds : dev.Domain.Vifs;
        list.Remove(dev);
        Xenstore.Transaction(() =>
        {
            Xenstore.Remove(dev.FrontendPath);
            Xenstore.Remove(dev.XenopsPath);
            Xenstore.Remove(dev.BackendPath);
            Xenstore.Remove(dev.HotplugDir);
            Xenstore.Remove(dev.PrivatePath);
            Xenstore.Remove(dev.ActivePath);
        });
    }

    private static bool IsLiveLocked(SimDevice dev) =>
        !dev.Domain.Destroyed && (dev.Kind == "vbd" ? dev.Domain.Vbds : dev.Domain.Vifs).Contains(dev);

    private HotplugSettings HotplugSettingsLocked() => new(_hotplugScripts, _hotplugDelay, _hotplugTimeout);

    // ---------------------------------------------------------------------------------------------
    // Faults and helpers

    private async Task ApplyFaultAsync(HypervisorStep step, Guid vmId, long needed, CancellationToken ct)
    {
        if (_faults.Take(step) is not { } fault)
        {
            return;
        }

        if (fault.DelayMs is > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(fault.DelayMs.Value), _time, ct).ConfigureAwait(false);
        }

        if (fault.EffectiveError is not { } code)
        {
            return;
        }

        var text = $"injected fault at {step.ToWire()}";
        string[] parameters = fault.Params is { } given ? [.. given] : code switch
        {
            ErrorCodes.InternalError => [$"{text} (VM {vmId})"],
            ErrorCodes.HostNotEnoughFreeMemory => [Str(needed), Str(MemoryFree)],
            ErrorCodes.FailedToStartEmulator => [vmId.ToString(), FindDomain(vmId) is { } d ? $"qemu-dm-{d.Domid}" : "qemu-dm", text],
            _ => [vmId.ToString(), text],
        };
        throw new HypervisorException(code, parameters);
    }

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
        d.Running ? DomainStates.Running : DomainStates.Paused,
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
        d.Vnc?.Port);

    private static string XenstoreDomainType(DomainType type) => type switch
    {
        DomainType.Hvm => "hvm",
        DomainType.Pv => "pv",
        DomainType.Pvh => "pvh",
        DomainType.PvInPvh => "pv-in-pvh",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static string LibxlType(DomainType type) => type switch
    {
        DomainType.Hvm => "HVM",
        DomainType.Pv => "PV",
        _ => "PVH",
    };

    private static long RoundUpToKiB(long bytes) => CeilDiv(bytes, KiB) * KiB;

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed record HotplugSettings(bool ScriptsEnabled, TimeSpan Delay, TimeSpan Timeout);

    private sealed class SimDomain(int domid, DomainSpec spec, long reserved, long memoryTarget, DateTimeOffset createdAt)
    {
        public int Domid { get; } = domid;

        public DomainSpec Spec { get; } = spec;

        public long Reserved { get; } = reserved;

        public long MemoryTarget { get; } = memoryTarget;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public string Name => Spec.Name.Length > 0 ? Spec.Name : $"Domain-{Domid}";

        public string DomPath => $"/local/domain/{Domid}";

        public string VmPath => $"/vm/{Spec.VmId}";

        public bool Running { get; set; }

        public bool Destroyed { get; set; }

        public BuildInfo? Build { get; set; }

        public DeviceModelInfo? DeviceModel { get; set; }

        public SimulatedVnc? Vnc { get; set; }

        public List<SimDevice> Vbds { get; } = [];

        public List<SimDevice> Vifs { get; } = [];
    }

    /// <summary>One device and its xenstore paths (frontend kind vbd/vif; backend kind vbd/vbd3/qdisk/vif).</summary>
    private sealed class SimDevice(SimDomain domain, Guid id, string kind, string backendKind, int devid, int position, string device, bool empty)
    {
        public SimDomain Domain { get; } = domain;

        public Guid Id { get; } = id;

        public string Kind { get; } = kind;

        public string BackendKind { get; } = backendKind;

        public int Devid { get; } = devid;

        public int Position { get; } = position;

        public string Device { get; } = device;

        public bool Empty { get; } = empty;

        public bool Plugged { get; set; }

        public string FrontendPath => $"{Domain.DomPath}/device/{Kind}/{Devid}";

        public string BackendPath => $"{Dom0Backend}/{BackendKind}/{Domain.Domid}/{Devid}";

        public string XenopsPath => $"/xenops/domain/{Domain.Domid}/device/{Kind}/{Devid}";

        public string PrivatePath => $"/xapi/{Domain.Spec.VmId}/private/{Kind}/{Devid}";

        public string HotplugDir => $"/xapi/{Domain.Spec.VmId}/hotplug/{Domain.Domid}/{BackendKind}/{Devid}";

        public string HotplugPath => $"{HotplugDir}/hotplug";

        public string ActivePath => $"{Domain.VmPath}/devices/{Kind}/{Devid}";
    }

    /// <summary>A re-armable wake-up: Arm before checking, Set from a watch; no wake-up is lost in between.</summary>
    private sealed class Signal
    {
        private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Arm()
        {
            var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _current, next);
            return next.Task;
        }

        public void Set() => Volatile.Read(ref _current).TrySetResult();
    }
}
