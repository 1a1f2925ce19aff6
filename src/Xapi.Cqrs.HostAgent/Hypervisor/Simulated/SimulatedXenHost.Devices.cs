using System.Globalization;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// Devices (XAPI.md §6.7): <c>Generic.add_device</c> writes the frontend, xenopsd's read-only copy, the backend, the
/// toolstack's private data and the active flag; hotplug "scripts" then run asynchronously (backend state 1 → 2, then
/// physical-device, both ends → 4, the <c>/xapi/…/hotplug</c> node and backend <c>hotplug-status=connected</c>) and a
/// plug waits for that (backend hotplug-status for VBDs, the hotplug node for VIFs) up to <see cref="HotplugTimeout"/>.
/// Plugging works the same into a paused domain being built and into a running one (hot-plug).
/// Unplug: from a running guest with PV drivers, a clean unplug (backend <c>online=0</c>, <c>state=5</c>, the guest's
/// frontend closes to 6, then everything the plug wrote goes); from any other domain (paused, not yet booted, without
/// PV drivers, shut down) the entries are removed at once, as xenopsd's forced unplug does.
/// VBD <c>params</c> is <c>/dev/sm/backend/&lt;vdi&gt;</c>.
/// </summary>
public sealed partial class SimulatedXenHost
{
    /// <summary>
    /// IDE device numbers of an HVM guest's first four disk positions (hda, hdb: major 3; hdc, hdd: major 22; 64 minors a
    /// unit), as xenopsd's <c>Device_number</c> gives them: 768, 832, 5632, 5696.
    /// </summary>
    private static readonly int[] IdeDevids = [3 << 8, (3 << 8) | 64, 22 << 8, (22 << 8) | 64];

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
            var d = GetPluggableLocked(vmId);
            var (devid, name) = DiskNumber(d.Spec.DomainType, vbd.Position);
            if (d.Vbds.Find(v => v.Position == vbd.Position) is { } taken)
            {
                throw HypervisorException.Internal(
                    $"Already_exists: vbd {name} (position {vbd.Position}) of domain {d.Domid} is used by VBD {taken.Id}");
            }

            dev = NewDeviceLocked(d, vbd.VbdId, VbdKind, vbd.BackendKind, devid, vbd.Position, name, vbd.Empty);
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
            hotplug = HotplugSettingsLocked();
        }

        await CompletePlugAsync(dev, hotplug, ct).ConfigureAwait(false);
        return new PlugInfo(vbd.VbdId, VbdKind, dev.Devid, dev.Device, dev.FrontendPath, dev.BackendPath);
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
            var d = GetPluggableLocked(vmId);
            if (d.Vifs.Find(v => v.Devid == vif.Device) is { } taken)
            {
                throw HypervisorException.Internal($"Already_exists: vif {vif.Device} of domain {d.Domid} is used by VIF {taken.Id}");
            }

            dev = NewDeviceLocked(d, vif.VifId, VifKind, VifKind, vif.Device, vif.Device, Str(vif.Device), empty: false);
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
            hotplug = HotplugSettingsLocked();
        }

        await CompletePlugAsync(dev, hotplug, ct).ConfigureAwait(false);
        return new PlugInfo(vif.VifId, VifKind, dev.Devid, dev.Device, dev.FrontendPath, dev.BackendPath);
    }

    public Task UnplugVbdAsync(Guid vmId, Guid vbdId, CancellationToken ct) => UnplugAsync(vmId, vbdId, VbdKind, HypervisorStep.VbdUnplug, ct);

    public Task UnplugVifAsync(Guid vmId, Guid vifId, CancellationToken ct) => UnplugAsync(vmId, vifId, VifKind, HypervisorStep.VifUnplug, ct);

    /// <summary>
    /// The disk's xenstore device number and the name xapi stores in VBD.device: an HVM guest's first four positions are
    /// IDE (<see cref="IdeDevids"/>, hda–hdd); any other (and every PV, PVH disk) is xvd: 51712 + 16·n, from 16 on the
    /// extended scheme (<see cref="DeviceNames.XenstoreDevid"/>).
    /// </summary>
    private static (int Devid, string Name) DiskNumber(DomainType type, int position) =>
        (type == DomainType.Hvm && position < IdeDevids.Length ? IdeDevids[position] : DeviceNames.XenstoreDevid(position),
            DeviceNames.GuestName(position, type == DomainType.Hvm));

    /// <summary>The domain, if devices may be plugged into it (not once it has shut down).</summary>
    private SimDomain GetPluggableLocked(Guid vmId)
    {
        var d = GetLocked(vmId);
        return d.Power != Power.Shutdown
            ? d
            : throw HypervisorException.Internal($"Bad_power_state: domain {d.Domid} of VM {vmId} has shut down; devices cannot be plugged");
    }

    /// <summary>A new device of the domain, refused when the device is already plugged or its frontend is still connected.</summary>
    private SimDevice NewDeviceLocked(SimDomain d, Guid id, string kind, string backendKind, int devid, int position, string name, bool empty)
    {
        if (d.DevicesOf(kind).Exists(v => v.Id == id))
        {
            throw HypervisorException.Internal($"Already_exists: {kind.ToUpperInvariant()} {id} is already plugged into domain {d.Domid}");
        }

        var dev = new SimDevice(d, id, kind, backendKind, devid, position, name, empty);
        if (Xenstore.Exists(dev.XenopsPath))
        {
            throw HypervisorException.Internal($"Device_frontend_already_connected: {dev.XenopsPath}");
        }

        return dev;
    }

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
        dev.Domain.DevicesOf(dev.Kind).Add(dev);
    }

    private async Task CompletePlugAsync(SimDevice dev, HotplugSettings hotplug, CancellationToken ct)
    {
        if (hotplug.ScriptsEnabled)
        {
            _ = RunHotplugScriptsAsync(dev, hotplug.Delay);
        }

        try
        {
            // Hotplug.wait_for_plug: VBDs wait for backend hotplug-status, VIFs for the /xapi hotplug node; hotplug-error fails.
            await WaitForDeviceAsync(
                dev,
                () => dev.Kind == VbdKind
                    ? Xenstore.Read($"{dev.BackendPath}/hotplug-status") == "connected"
                    : Xenstore.Read(dev.HotplugPath) == "online",
                () => Xenstore.Read($"{dev.BackendPath}/hotplug-error") is { } error
                    ? HypervisorException.Internal($"Device_error: {dev.Describe}: {error}")
                    : !Xenstore.Exists(dev.BackendPath)
                        ? HypervisorException.Internal($"Device_not_found: {dev.Describe} vanished during hotplug")
                        : null,
                hotplug.Timeout,
                () => HypervisorException.Internal($"Hotplug timeout: {dev.Describe} not connected after {Seconds(hotplug.Timeout)} s"),
                ct).ConfigureAwait(false);
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
            PersistLocked(dev.Domain);
        }
    }

    /// <summary>What the udev-triggered block/vif scripts and the backend drivers do after the toolstack wrote the device.</summary>
    private async Task RunHotplugScriptsAsync(SimDevice dev, TimeSpan delay)
    {
        if (!await AfterAsync(delay).ConfigureAwait(false))
        {
            return;
        }

        lock (_gate)
        {
            if (!IsLiveLocked(dev))
            {
                return;
            }

            Xenstore.Write($"{dev.BackendPath}/state", "2"); // InitWait
        }

        if (!await AfterAsync(delay).ConfigureAwait(false))
        {
            return;
        }

        lock (_gate)
        {
            if (!IsLiveLocked(dev))
            {
                return;
            }

            var minor = _nextMinor++;
            Xenstore.Transaction(() =>
            {
                if (dev.Kind == VbdKind && !dev.Empty)
                {
                    dev.Minor = minor;
                    Xenstore.Write($"{dev.BackendPath}/physical-device", $"fe:{minor:x}");
                }

                Xenstore.Write($"{dev.FrontendPath}/state", "4"); // Connected
                Xenstore.Write($"{dev.BackendPath}/state", "4");
                Xenstore.Write(dev.HotplugPath, "online");
                Xenstore.Write($"{dev.BackendPath}/hotplug-status", "connected");
            });
        }
    }

    private async Task UnplugAsync(Guid vmId, Guid deviceId, string kind, HypervisorStep step, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_domains.TryGetValue(vmId, out var d) || !d.DevicesOf(kind).Exists(v => v.Id == deviceId))
            {
                return; // nothing plugged: nothing to do
            }
        }

        await ApplyFaultAsync(step, vmId, 0, ct).ConfigureAwait(false);
        SimDevice dev;
        HotplugSettings hotplug;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_domains.TryGetValue(vmId, out var d) || d.DevicesOf(kind).Find(v => v.Id == deviceId) is not { } found)
            {
                return;
            }

            dev = found;
            if (!dev.Plugged || d.Power != Power.Running || !d.Spec.PvDrivers)
            {
                RemoveDeviceLocked(dev); // forced: nobody in the guest to ask
                PersistLocked(d);
                return;
            }

            // Device_common.clean_shutdown: ask the backend to close, then wait for the guest's frontend.
            dev.Unplugging = true;
            Xenstore.Transaction(() =>
            {
                Xenstore.Write($"{dev.BackendPath}/online", "0");
                if (Xenstore.Read($"{dev.BackendPath}/state") != "6")
                {
                    Xenstore.Write($"{dev.BackendPath}/state", "5"); // Closing
                }
            });
            hotplug = HotplugSettingsLocked();
        }

        _ = GuestCloseFrontendAsync(dev, hotplug.Delay);
        try
        {
            await WaitForDeviceAsync(
                dev,
                () => !Xenstore.Exists(dev.FrontendPath) || Xenstore.Read($"{dev.FrontendPath}/state") == "6",
                () => null,
                hotplug.Timeout,
                () => HypervisorException.Internal($"Device_detach_rejected: {dev.Describe}: the frontend did not close within {Seconds(hotplug.Timeout)} s"),
                ct).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                if (IsLiveLocked(dev) && dev.Unplugging)
                {
                    // the guest keeps its device: the backend goes back online
                    dev.Unplugging = false;
                    Xenstore.Transaction(() =>
                    {
                        Xenstore.Write($"{dev.BackendPath}/online", "1");
                        Xenstore.Write($"{dev.BackendPath}/state", "4");
                    });
                }
            }

            throw;
        }

        lock (_gate)
        {
            if (IsLiveLocked(dev))
            {
                RemoveDeviceLocked(dev);
                PersistLocked(dev.Domain);
            }
        }
    }

    /// <summary>The guest's frontend driver seeing its backend close: Closing, then Closed, if the guest is running.</summary>
    private async Task GuestCloseFrontendAsync(SimDevice dev, TimeSpan delay)
    {
        if (!await AfterAsync(delay).ConfigureAwait(false))
        {
            return;
        }

        lock (_gate)
        {
            if (IsLiveLocked(dev) && dev.Unplugging && dev.Domain.Power == Power.Running)
            {
                Xenstore.Write($"{dev.FrontendPath}/state", "6"); // Closed
            }
        }
    }

    /// <summary>
    /// Wait, on xenstore watches of the device's nodes, until <paramref name="done"/> holds; fail with what
    /// <paramref name="failure"/> answers, or with <paramref name="timedOut"/> once <paramref name="timeout"/> (on the
    /// host's clock) has passed.
    /// </summary>
    private async Task WaitForDeviceAsync(
        SimDevice dev, Func<bool> done, Func<HypervisorException?> failure, TimeSpan timeout, Func<HypervisorException> timedOut, CancellationToken ct)
    {
        var signal = new Signal();
        using var backendWatch = Xenstore.Watch(dev.BackendPath, _ => signal.Set());
        using var frontendWatch = Xenstore.Watch(dev.FrontendPath, _ => signal.Set());
        using var hotplugWatch = Xenstore.Watch(dev.HotplugPath, _ => signal.Set());
        var started = _time.GetTimestamp();
        while (true)
        {
            var wake = signal.Arm();
            if (failure() is { } failed)
            {
                throw failed;
            }

            if (done())
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
                throw timedOut();
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

    /// <summary>Remove every entry the plug wrote (§6.7) and the device from its domain.</summary>
    private void RemoveDeviceLocked(SimDevice dev)
    {
        if (!IsLiveLocked(dev))
        {
            return;
        }

        dev.Domain.DevicesOf(dev.Kind).Remove(dev);
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

    private static bool IsLiveLocked(SimDevice dev) => !dev.Domain.Destroyed && dev.Domain.DevicesOf(dev.Kind).Contains(dev);

    private HotplugSettings HotplugSettingsLocked() => new(_hotplugScripts, _hotplugDelay, _hotplugTimeout);

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    private sealed record HotplugSettings(bool ScriptsEnabled, TimeSpan Delay, TimeSpan Timeout);
}
