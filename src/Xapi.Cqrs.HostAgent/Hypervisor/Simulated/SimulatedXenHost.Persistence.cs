using System.Net.Sockets;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// Persistence (<see cref="StateStore"/>): every completed change of a domain saves it under the host's lock, before
/// the call returns; destroy frees its slot. Loading restores the domains with their domids, memory, devices,
/// xenstore subtrees and run state, and their consoles listen again (on the same port when it is free, else on a new
/// one, written to <c>console/vnc-port</c>). What a restart cannot keep, as on a real host whose xenopsd restarted: a
/// plug that had not completed is undone (its entries removed) and a pending <c>control/shutdown</c> request, whose
/// caller is gone, is withdrawn.
/// </summary>
public sealed partial class SimulatedXenHost
{
    /// <summary>Save the domain's state (no-op in memory only, once disposed, or for a destroyed domain).</summary>
    private void PersistLocked(SimDomain d)
    {
        if (_store is null || _disposed || d.Destroyed)
        {
            return;
        }

        Save(() => _store.SaveDomain(RecordOf(d)));
    }

    /// <summary>A destroyed domain: the counters first (so its domid is not handed out again after a restart), then its slot.</summary>
    private void ForgetLocked(SimDomain d)
    {
        if (_store is null)
        {
            return;
        }

        Save(() =>
        {
            _store.SaveHost(new HostRecord(HostRecord.CurrentFormat, _nextDomid, _nextMinor));
            _store.DeleteDomain(d.Spec.VmId);
        });
    }

    private static void Save(Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw HypervisorException.Internal($"the simulated host could not save its state: {e.Message}");
        }
    }

    private DomainRecord RecordOf(SimDomain d) => new()
    {
        Spec = d.Spec,
        Domid = d.Domid,
        Reserved = d.Reserved,
        MemoryTarget = d.MemoryTarget,
        CreatedAt = d.CreatedAt,
        State = ToWire(d.Power),
        Reason = d.Reason,
        Booted = d.Booted,
        Build = d.Build,
        DeviceModel = d.DeviceModel,
        Devices = [.. d.Vbds.Concat(d.Vifs).Select(v => new DeviceRecord(v.Id, v.Kind, v.BackendKind, v.Devid, v.Position, v.Device, v.Empty, v.Plugged, v.Minor))],
        Xenstore = [.. Xenstore.Export([.. DomainSubtreesLocked(d), .. VmSubtrees(d)]).Select(e => new[] { e.Key, e.Value })],
    };

    private void LoadState()
    {
        var store = _store!;
        lock (_gate)
        {
            var host = store.LoadHost();
            foreach (var record in store.LoadDomains().OrderBy(r => r.Domid))
            {
                if (!Restorable(record) || _domains.Values.Any(d => d.Domid == record.Domid))
                {
                    store.SetAside(record.Spec.VmId);
                    continue;
                }

                RestoreLocked(record);
            }

            _nextDomid = Math.Max(host?.NextDomid ?? 1, _domains.Values.Select(d => d.Domid + 1).DefaultIfEmpty(1).Max());
            _nextMinor = Math.Max(
                host?.NextMinor ?? 0,
                _domains.Values.SelectMany(d => d.Vbds).Select(v => (v.Minor ?? -1) + 1).DefaultIfEmpty(0).Max());
        }
    }

    /// <summary>A record this version can restore (it was written by a host, whose frames are checksummed, but check anyway).</summary>
    private static bool Restorable(DomainRecord r) =>
        r.Domid is > 0 and < FirstReservedDomid
        && r.State is DomainStates.Paused or DomainStates.Running or DomainStates.Shutdown
        && r.Reserved >= 0
        && r.Spec is { VcpusParams: not null, Platform: not null, BiosStrings: not null, XenstoreData: not null }
        && r.Devices is not null && r.Devices.All(v => v is { Kind: VbdKind or VifKind, BackendKind: not null, Device: not null })
        && r.Xenstore is not null && r.Xenstore.All(e => e is [{ } path, not null] && path.StartsWith('/'));

    private void RestoreLocked(DomainRecord r)
    {
        var d = new SimDomain(r.Domid, r.Spec, r.Reserved, r.MemoryTarget, r.CreatedAt)
        {
            Power = PowerOf(r.State),
            Reason = r.Reason,
            Booted = r.Booted,
            Build = r.Build,
            DeviceModel = r.DeviceModel,
        };
        Xenstore.Import(r.Xenstore.Select(e => KeyValuePair.Create(e[0], e[1])));
        foreach (var v in r.Devices)
        {
            d.DevicesOf(v.Kind).Add(new SimDevice(d, v.Id, v.Kind, v.BackendKind, v.Devid, v.Position, v.Device, v.Empty) { Plugged = v.Plugged, Minor = v.Minor });
        }

        _domains.Add(r.Spec.VmId, d);
        _reserved += d.Reserved;

        var changed = false;
        foreach (var interrupted in d.Vbds.Concat(d.Vifs).Where(v => !v.Plugged).ToList())
        {
            RemoveDeviceLocked(interrupted);
            changed = true;
        }

        changed |= Xenstore.Remove($"{d.DomPath}/control/shutdown");
        if (d.DeviceModel is { Kind: not "none" } dm)
        {
            d.Vnc = RestartConsole(d, dm.VncPort ?? 0);
            if (d.Vnc?.Port != dm.VncPort)
            {
                d.DeviceModel = dm with { VncPort = d.Vnc?.Port };
                if (d.Vnc is null)
                {
                    Xenstore.Remove($"{d.DomPath}/console/vnc-port");
                }

                WriteDeviceModelKeysLocked(d, d.Vnc?.Port);
                changed = true;
            }
        }

        if (changed)
        {
            PersistLocked(d);
        }
    }

    /// <summary>The console again, on its old port when that is free, else on any; null when no port can be bound.</summary>
    private static SimulatedVnc? RestartConsole(SimDomain d, int port)
    {
        foreach (var candidate in port == 0 ? [0] : new[] { port, 0 })
        {
            try
            {
                return StartConsole(d, candidate);
            }
            catch (SocketException)
            {
                // taken (or no port at all): try the next
            }
        }

        return null;
    }
}
