using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>
/// VBDs and VIFs: each on a root port of its own (disk position p on rp(p+1), NIC device n on rp(9+n)). A disk is the
/// VDI's qcow2 image (created with <c>qemu-img</c> at the VDI's size on first use) opened with <c>blockdev-add</c>
/// (read-only for an RO VBD or a CD) under <c>device_add virtio-blk-pci</c>; an empty CD drive has no QEMU device
/// (q35's AHCI bus takes no hot-plug). A NIC is <c>netdev_add</c> user networking with <c>restrict</c> (nothing leaves
/// the machine) under <c>device_add virtio-net-pci</c> with the VIF's MAC. Unplug is <c>device_del</c>, which needs a
/// cooperating guest: it waits for <c>DEVICE_DELETED</c> up to <see cref="QemuSettings.HotplugTimeout"/>.
/// </summary>
public sealed partial class QemuHost
{
    public async Task<PlugInfo> PlugVbdAsync(Guid vmId, VbdSpec vbd, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(vbd);
        ct.ThrowIfCancellationRequested();
        if (vbd.Position is < 0 or >= MaxDisks)
        {
            throw HypervisorException.Internal($"VBD {vbd.VbdId}: a qemu host has root ports for disk positions 0-{MaxDisks - 1}, not {vbd.Position}");
        }

        Dom d;
        QemuDisk disk;
        lock (_gate)
        {
            d = GetPluggableLocked(vmId);
            if (d.Record.Disks.FirstOrDefault(x => x.Position == vbd.Position) is { } taken)
            {
                throw HypervisorException.Internal($"Already_exists: disk position {vbd.Position} of domain {d.Record.Domid} is used by VBD {taken.Id}");
            }

            var hvm = d.Record.DomainType == DomainType.Hvm;
            var empty = vbd.Empty || vbd.VdiId is null;
            var image = empty ? null : Settings.ImagePath(vbd.SrId ?? Guid.Empty, vbd.VdiId!.Value);
            disk = new QemuDisk(vbd.VbdId, vbd.Position, DeviceNames.GuestName(vbd.Position, hvm), DeviceNames.XenstoreDevid(vbd.Position),
                vbd.Mode == VbdMode.RO || vbd.Type == VbdType.CD, empty, image, $"disk{Str(vbd.Position)}g{Str(d.Record.NextNode)}", $"vbd-{vbd.VbdId:N}");
            UpdateLocked(d, r => r with { NextNode = r.NextNode + 1 });
        }

        if (disk.Image is { } path)
        {
            await EnsureImageAsync(path, vbd.VirtualSize, ct).ConfigureAwait(false);
            await QmpAsync(d, "blockdev-add", new Dictionary<string, object>
            {
                ["driver"] = "qcow2",
                ["node-name"] = disk.Node,
                ["read-only"] = disk.ReadOnly,
                ["file"] = new Dictionary<string, object> { ["driver"] = "file", ["filename"] = path },
            }, ct).ConfigureAwait(false);
            try
            {
                await QmpAsync(d, "device_add", new Dictionary<string, object>
                {
                    ["driver"] = "virtio-blk-pci",
                    ["id"] = disk.QdevId,
                    ["drive"] = disk.Node,
                    ["bus"] = $"rp{Str(vbd.Position + 1)}",
                }, ct).ConfigureAwait(false);
            }
            catch (HypervisorException)
            {
                await TryQmpAsync(d, "blockdev-del", new Dictionary<string, object> { ["node-name"] = disk.Node }).ConfigureAwait(false);
                throw;
            }
        }

        lock (_gate)
        {
            UpdateLocked(d, r => r with { Disks = [.. r.Disks, disk] });
        }

        return new PlugInfo(vbd.VbdId, "vbd", disk.Devid, disk.Device, $"qemu:{disk.QdevId}", disk.Image ?? "");
    }

    public async Task<PlugInfo> PlugVifAsync(Guid vmId, VifSpec vif, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(vif);
        ct.ThrowIfCancellationRequested();
        if (vif.Device is < 0 or >= MaxNics)
        {
            throw HypervisorException.Internal($"VIF {vif.VifId}: a qemu host has root ports for NIC devices 0-{MaxNics - 1}, not {vif.Device}");
        }

        if (string.IsNullOrWhiteSpace(vif.Mac))
        {
            throw HypervisorException.Internal($"VIF {vif.VifId} needs a MAC");
        }

        Dom d;
        QemuNic nic;
        lock (_gate)
        {
            d = GetPluggableLocked(vmId);
            if (d.Record.Nics.FirstOrDefault(x => x.Device == vif.Device) is { } taken)
            {
                throw HypervisorException.Internal($"Already_exists: vif {vif.Device} of domain {d.Record.Domid} is used by VIF {taken.Id}");
            }

            nic = new QemuNic(vif.VifId, vif.Device, vif.Mac, $"net{Str(vif.Device)}g{Str(d.Record.NextNode)}", $"vif-{vif.VifId:N}");
            UpdateLocked(d, r => r with { NextNode = r.NextNode + 1 });
        }

        await QmpAsync(d, "netdev_add", new Dictionary<string, object> { ["type"] = "user", ["id"] = nic.NetdevId, ["restrict"] = true }, ct).ConfigureAwait(false);
        try
        {
            await QmpAsync(d, "device_add", new Dictionary<string, object>
            {
                ["driver"] = "virtio-net-pci",
                ["id"] = nic.QdevId,
                ["netdev"] = nic.NetdevId,
                ["mac"] = nic.Mac,
                ["bus"] = $"rp{Str(MaxDisks + vif.Device + 1)}",
                ["romfile"] = "",
            }, ct).ConfigureAwait(false);
        }
        catch (HypervisorException)
        {
            await TryQmpAsync(d, "netdev_del", new Dictionary<string, object> { ["id"] = nic.NetdevId }).ConfigureAwait(false);
            throw;
        }

        lock (_gate)
        {
            UpdateLocked(d, r => r with { Nics = [.. r.Nics, nic] });
        }

        return new PlugInfo(vif.VifId, "vif", vif.Device, Str(vif.Device), $"qemu:{nic.QdevId}", $"qemu:{nic.NetdevId}");
    }

    public async Task UnplugVbdAsync(Guid vmId, Guid vbdId, CancellationToken ct)
    {
        Dom d;
        QemuDisk? disk;
        lock (_gate)
        {
            if (!_domains.TryGetValue(vmId, out d!) || d.Destroying is not null)
            {
                return;
            }

            disk = d.Record.Disks.FirstOrDefault(x => x.Id == vbdId);
        }

        if (disk is null)
        {
            return;
        }

        if (disk.Image is not null)
        {
            await DeviceDelAsync(d, disk.QdevId, ct).ConfigureAwait(false);
            await TryQmpAsync(d, "blockdev-del", new Dictionary<string, object> { ["node-name"] = disk.Node }).ConfigureAwait(false);
        }

        lock (_gate)
        {
            UpdateLocked(d, r => r with { Disks = [.. r.Disks.Where(x => x.Id != vbdId)] });
        }
    }

    public async Task UnplugVifAsync(Guid vmId, Guid vifId, CancellationToken ct)
    {
        Dom d;
        QemuNic? nic;
        lock (_gate)
        {
            if (!_domains.TryGetValue(vmId, out d!) || d.Destroying is not null)
            {
                return;
            }

            nic = d.Record.Nics.FirstOrDefault(x => x.Id == vifId);
        }

        if (nic is null)
        {
            return;
        }

        await DeviceDelAsync(d, nic.QdevId, ct).ConfigureAwait(false);
        await TryQmpAsync(d, "netdev_del", new Dictionary<string, object> { ["id"] = nic.NetdevId }).ConfigureAwait(false);
        lock (_gate)
        {
            UpdateLocked(d, r => r with { Nics = [.. r.Nics.Where(x => x.Id != vifId)] });
        }
    }

    /// <summary><c>device_del</c> and the guest's <c>DEVICE_DELETED</c>; Device_detach_rejected when it does not come in time.</summary>
    private async Task DeviceDelAsync(Dom d, string qdevId, CancellationToken ct)
    {
        var qmp = d.Qmp ?? throw HypervisorException.Internal($"QEMU of domain {d.Record.Domid} is not connected");
        using var deleted = qmp.ListenFor("DEVICE_DELETED", e => e.Data.TryGetProperty("device", out var id) && id.GetString() == qdevId);
        await QmpAsync(d, "device_del", new Dictionary<string, object> { ["id"] = qdevId }, ct).ConfigureAwait(false);
        if (await deleted.WaitAsync(Settings.HotplugTimeout, ct).ConfigureAwait(false) is null)
        {
            throw HypervisorException.Internal($"Device_detach_rejected: {qdevId} of domain {d.Record.Domid}: the guest did not release it within {Settings.HotplugTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>A cleanup command whose failure changes nothing (the object is gone already, or QEMU is).</summary>
    private async Task TryQmpAsync(Dom d, string command, object arguments)
    {
        try
        {
            await QmpAsync(d, command, arguments, CancellationToken.None).ConfigureAwait(false);
        }
        catch (HypervisorException)
        {
            // nothing to undo
        }
    }

    private async Task EnsureImageAsync(string path, long size, CancellationToken ct)
    {
        if (File.Exists(path))
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + $".{Guid.NewGuid():N}.tmp";
        var (exit, error) = await QemuProcess.RunAsync(Settings.ImageTool, ["create", "-q", "-f", "qcow2", temp, Str(size > 0 ? size : 1L << 30)],
            Settings.StartTimeout, ct).ConfigureAwait(false);
        if (exit != 0)
        {
            File.Delete(temp);
            throw HypervisorException.Internal($"qemu-img could not create {path}: {error}");
        }

        if (!File.Exists(path))
        {
            File.Move(temp, path);
        }
        else
        {
            File.Delete(temp); // made meanwhile by another plug of the same VDI
        }
    }

    private Dom GetPluggableLocked(Guid vmId)
    {
        var d = GetLocked(vmId);
        if (d.State == DomainStates.Shutdown)
        {
            throw HypervisorException.Internal($"Domain {d.Record.Domid} of VM {vmId} has shut down: no device can be plugged into it");
        }

        return d;
    }
}
