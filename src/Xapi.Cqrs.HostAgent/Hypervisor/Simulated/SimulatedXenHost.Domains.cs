using System.Globalization;
using System.Net.Sockets;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// Domains and memory: domids (highest existing + 1, then incremented, never reusing a freed domid until the counter
/// wraps below DOMID_FIRST_RESERVED, as Xen does), the §5.5 reservation, build, device model, pause/unpause, destroy.
/// Memory: <c>MemoryFree = MemoryTotal − host overhead (dom0, Xen) − Σ reservations</c>; create reserves
/// <see cref="MemoryModel.ReservationBytes"/>, granting as much of the range as fits and failing
/// HOST_NOT_ENOUGH_FREE_MEMORY [needed; available] when even the lower bound does not; the balloon target is
/// min(dynamic_max, granted − overhead); only destroy frees the reservation (a shut-down domain still holds it).
/// </summary>
public sealed partial class SimulatedXenHost
{
    public async Task<DomainInfo> CreateDomainAsync(DomainSpec spec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ct.ThrowIfCancellationRequested();
        var (lower, upper) = MemoryModel.ReservationBytes(spec.MemoryDynamicMin, spec.MemoryDynamicMax, spec.MemoryOverhead);
        await ApplyFaultAsync(HypervisorStep.Create, spec.VmId, lower, ct).ConfigureAwait(false);
        Validate(spec);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_domains.TryGetValue(spec.VmId, out var existing))
            {
                throw HypervisorException.Internal($"Already_exists: VM {spec.VmId} already has domain {existing.Domid}");
            }

            var free = FreeLocked();
            if (free < lower)
            {
                throw new HypervisorException(ErrorCodes.HostNotEnoughFreeMemory, Str(lower), Str(free));
            }

            var granted = Math.Min(upper, free / MemoryModel.BytesPerKib * MemoryModel.BytesPerKib);
            var target = Math.Min(spec.MemoryDynamicMax, granted - spec.MemoryOverhead);
            var domain = new SimDomain(AllocateDomidLocked(), spec, granted, target, _time.GetUtcNow());
            WriteDomainTreeLocked(domain);
            _domains.Add(spec.VmId, domain);
            _reserved += granted;
            PersistLocked(domain);
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
            WriteBuildKeysLocked(d, info);
            d.Build = info;
            PersistLocked(d);
            return info;
        }
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
                    vnc = StartConsole(d, port: 0);
                }
                catch (SocketException e)
                {
                    throw new HypervisorException(
                        ErrorCodes.FailedToStartEmulator, vmId.ToString(), hvm ? $"qemu-dm-{d.Domid}" : "vncterm", e.Message);
                }
            }

            WriteDeviceModelKeysLocked(d, vnc?.Port);
            d.Vnc = vnc;
            d.DeviceModel = new DeviceModelInfo(d.Domid, kind, vnc?.Port, nics);
            PersistLocked(d);
            return d.DeviceModel;
        }
    }

    public Task ClearActionRequestAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (Xenstore.Remove($"{d.DomPath}/action-request"))
            {
                PersistLocked(d);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Paused → running. The first time, the guest boots: with PV drivers it writes its driver version and
    /// <c>control/feature-*</c> flags before this returns. A running domain stays running and a shut-down one stays
    /// shut down (xenopsd unpauses only a Paused domain).
    /// </summary>
    public async Task UnpauseAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.Unpause, vmId, 0, ct).ConfigureAwait(false);
        SimDomain d;
        ShutdownRequest? pending;
        lock (_gate)
        {
            d = GetLocked(vmId);
            if (d.Power == Power.Shutdown)
            {
                return;
            }

            AssertBuiltLocked(d);
            if (d.Power == Power.Running)
            {
                return;
            }

            d.Power = Power.Running;
            if (!d.Booted)
            {
                d.Booted = true;
                GuestBootLocked(d);
            }

            pending = GuestWillAnswerLocked(d);
            PersistLocked(d);
        }

        if (pending is not null)
        {
            _ = GuestAnswerShutdownAsync(d, pending);
        }
    }

    /// <summary>Running → paused; a paused domain stays paused and a shut-down one shut down.</summary>
    public async Task PauseAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await ApplyFaultAsync(HypervisorStep.Pause, vmId, 0, ct).ConfigureAwait(false);
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.Power == Power.Shutdown)
            {
                return;
            }

            AssertBuiltLocked(d);
            if (d.Power == Power.Running)
            {
                d.Power = Power.Paused;
                PersistLocked(d);
            }
        }
    }

    /// <summary>
    /// Idempotent (no domain: nothing to do, and no fault is taken), and not cancellable once the fault step is passed:
    /// cleanup always completes. A pending <see cref="ShutdownAsync"/> fails Does_not_exist.
    /// </summary>
    public async Task DestroyDomainAsync(Guid vmId, CancellationToken ct)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_domains.ContainsKey(vmId))
            {
                return;
            }
        }

        await ApplyFaultAsync(HypervisorStep.Destroy, vmId, 0, ct).ConfigureAwait(false);
        SimulatedVnc? vnc;
        ShutdownRequest? pending;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_domains.Remove(vmId, out var d))
            {
                return;
            }

            d.Destroyed = true;
            vnc = d.Vnc;
            d.Vnc = null;
            pending = d.ShutdownRequest;
            d.ShutdownRequest = null;
            _reserved -= d.Reserved;
            RemoveDomainTreeLocked(d);
            ForgetLocked(d);
        }

        pending?.Done.TrySetException(HypervisorException.NoDomain(vmId));
        vnc?.Dispose();
    }

    private void AssertBuiltLocked(SimDomain d)
    {
        if (d.Build is null || (d.Spec.DomainType == DomainType.Hvm && d.DeviceModel is null))
        {
            throw HypervisorException.Internal(
                $"Domain_not_built: domain {d.Domid} of VM {d.Spec.VmId} is not built" + (d.Build is null ? "" : " (no device model)"));
        }
    }

    /// <summary>The console listener of a domain's device model (qemu's VNC for HVM, vncterm's for PV), on a given port or any.</summary>
    private static SimulatedVnc StartConsole(SimDomain d, int port) => d.Spec.DomainType == DomainType.Hvm
        ? SimulatedVnc.Start(d.Name, 1024, 768, port)
        : SimulatedVnc.Start(d.Name, 720, 400, port);

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

    /// <summary>PV: the bootloader when set, else the PV kernel, else pygrub; HVM and PVH: hvmloader.</summary>
    private static string KernelOf(DomainSpec spec) => spec.DomainType switch
    {
        DomainType.Pv or DomainType.PvInPvh when spec.PvBootloader.Length > 0 => spec.PvBootloader,
        DomainType.Pv or DomainType.PvInPvh when spec.PvKernel.Length > 0 => spec.PvKernel,
        DomainType.Pv or DomainType.PvInPvh => "pygrub",
        _ => "hvmloader",
    };

    /// <summary>
    /// The shadow allocation: §5.2's <see cref="MemoryModel.ShadowMib"/> with vCPUs_max, static_max and the VM's
    /// multiplier for domains in an HVM container; PV guests get none (the Linux memory model has no shadow).
    /// </summary>
    private static long ShadowMib(DomainSpec spec) => spec.DomainType == DomainType.Pv
        ? 0
        : MemoryModel.ShadowMib(MemoryModel.MibOfBytesUsed(spec.MemoryStaticMax), spec.VcpusMax, spec.HvmShadowMultiplier);

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
}
