using Marten;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// Building a VM's domain on a host (XAPI.md §6.3), shared by start and reboot: create the domain (with
/// action-request=poweroff), build it, plug RW VBDs before RO VBDs, VIFs in device order, create the device model,
/// clear the marker, unpause unless paused (and record what the booted guest's PV drivers report). Each step is an
/// event of <paramref name="task"/> in the <see cref="StepBuffer"/>.
/// </summary>
public static class DomainBuild
{
    public static async Task<(long Domid, Dictionary<Guid, string> Vbds, List<Guid> Vifs)> RunAsync(IHypervisor hypervisor, IQuerySession session, Vm vm,
        Guid task, Guid hostId, bool paused, StepBuffer steps, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var vbdQuery = batch.LoadMany<Vbd>().ById(vm.Vbds.Keys.ToArray());
        var vifQuery = batch.LoadMany<Vif>().ById(vm.Vifs.Keys.ToArray());
        var networkQuery = batch.Query<Network>().ToList();
        await batch.Execute(ct);
        var allVbds = await vbdQuery;
        // A qemu host keeps an image per VDI and may boot a kernel a VDI names: it needs the VDIs (the simulator does not).
        var vdis = hypervisor.Kind != QemuHost.KindName ? [] : (await session.LoadManyAsync<Vdi>(ct,
            allVbds.Where(v => v.VdiId is not null).Select(v => v.VdiId!.Value).Distinct())).ToDictionary(v => v.Id);
        Vdi? VdiOf(Vbd v) => v.VdiId is { } id ? vdis.GetValueOrDefault(id) : null;
        var spec = DomainSpec.FromVm(vm) with { DirectBoot = DirectBoot.ForVm(allVbds.Select(v => (v, VdiOf(v)))) };
        var domain = await steps.RunAsync(c => hypervisor.CreateDomainAsync(spec, c),
            (d, at, ms) => new DomainCreated(task, hostId, d.Domid, d.MemoryReserved, at, ms), ct);
        await steps.RunAsync(c => hypervisor.BuildDomainAsync(vm.Id, c),
            (b, at, ms) => new DomainBuilt(task, b.Domid, b.Kernel, b.ShadowMib, b.VcpuAffinity, b.VcpuWeight, b.VcpuCap, at, ms), ct);

        // §6.2: with a device model every VBD is attached; without, only non-empty ones. RW before RO (§6.3 step 4a).
        var hasQemu = vm.DomainType == DomainType.Hvm;
        var vbds = allVbds
            .Where(v => hasQemu || !v.Empty)
            .OrderBy(v => v.Mode == VbdMode.RW ? 0 : 1)
            .ThenBy(v => DeviceNames.Position(v.Userdevice, controlDomain: true) ?? int.MaxValue)
            .ToList();
        var pluggedVbds = new Dictionary<Guid, string>();
        foreach (var vbd in vbds)
        {
            var plug = await steps.RunAsync(c => hypervisor.PlugVbdAsync(vm.Id, VbdSpec.FromVbd(vbd, vdi: VdiOf(vbd)), c),
                (p, at, ms) => new VbdPlugged(task, vbd.Id, p.Device, vbd.Mode.ToString(), at, ms), ct);
            pluggedVbds[vbd.Id] = plug.Device;
        }

        // §6.3 step 4b: VIFs in device order (guests number NICs by xenstore listing order).
        var vifs = (await vifQuery).OrderBy(v => long.Parse(v.Device, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var networks = (await networkQuery).ToDictionary(n => n.Id);
        var pluggedVifs = new List<Guid>();
        foreach (var vif in vifs)
        {
            var bridge = networks.TryGetValue(vif.NetworkId, out var n) ? n.Bridge : "xenbr0";
            await steps.RunAsync(c => hypervisor.PlugVifAsync(vm.Id, VifSpec.FromVif(vif, bridge), c),
                (p, at, ms) => new VifPlugged(task, vif.Id, p.Device, bridge, vif.Mac, at, ms), ct);
            pluggedVifs.Add(vif.Id);
        }

        await steps.RunAsync(c => hypervisor.CreateDeviceModelAsync(vm.Id, c),
            (m, at, ms) => new DeviceModelCreated(task, m.Domid, m.Kind, m.VncPort, m.EmulatedNics, at, ms), ct);
        await steps.RunAsync(c => hypervisor.ClearActionRequestAsync(vm.Id, c), ct);
        if (!paused)
        {
            await steps.RunAsync(async c => { await hypervisor.UnpauseAsync(vm.Id, c); return domain.Domid; },
                (domid, at, ms) => new DomainUnpaused(task, domid, at, ms), ct);

            await ReportGuestAsync(hypervisor, vm.Id, task, steps, ct);
        }

        return (domain.Domid, pluggedVbds, pluggedVifs);
    }

    /// <summary>
    /// The guest has booted (an unpause): what its PV drivers wrote, if any, is a step of the same task, committed with
    /// its outcome, so clean shutdown and hot-plug are allowed as soon as the operation answers.
    /// </summary>
    public static Task ReportGuestAsync(IHypervisor hypervisor, Guid vmId, Guid task, StepBuffer steps, CancellationToken ct) =>
        steps.RunAsync(_ => Task.FromResult(hypervisor.FindDomain(vmId)),
            (d, at, ms) => d?.Guest is not { } g ? null! : new GuestMetricsReported(task, d.Domid, true, g.PvDriversVersion, [.. g.Features], at, ms), ct);
}
