using Marten;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The member side of VM.start (XAPI.md §6.3): create the domain (with action-request=poweroff), build
/// it, plug RW VBDs before RO VBDs, VIFs in device order, create the device model, clear the marker,
/// unpause unless asked for paused — each step an event, coalesced into few commits (<see cref="StepBuffer"/>)
/// — then report residency and completion in one transaction, shared with the other VMs of the host that
/// finish at the same time (<see cref="ReportBatcher"/>). On any failure: destroy what was built and
/// report the failure. What each report writes is decided by <see cref="StartReports"/>.
/// </summary>
public sealed class StartSequence(IHypervisor hypervisor, IQuerySession session, AgentCommands commands, ReportBatcher reports, TimeProvider time, TimeSpan coalesceWindow, ILogger log)
{
    public async Task RunAsync(AgentWork.Start work, CancellationToken ct)
    {
        var vm = await session.LoadAsync<Vm>(work.VmId, ct);
        if (vm is null || !vm.CurrentOperations.ContainsKey(work.TaskId))
        {
            return; // already finished (an event delivered twice): nothing to do
        }

        var existing = hypervisor.FindDomain(vm.Id);
        if (vm.ResidentOn == work.HostId && existing is { ActionRequest: null })
        {
            await commands.Send(new ReportStart.Complete(vm.Id, work.TaskId, work.HostId), ct); // built before a restart, not yet reported
            return;
        }

        if (work.Recovered && (existing is not null || vm.Step?.TaskId == work.TaskId && vm.Step.Progress > 0.1))
        {
            // Found open after a restart of this agent. A domain still carrying action-request=poweroff was
            // interrupted mid-build: destroy it and fail the start (§6.3). So is a start whose domain is gone.
            await hypervisor.DestroyDomainAsync(vm.Id, CancellationToken.None);
            await commands.Send(new ReportStart.Fail(vm.Id, work.TaskId, work.HostId, ErrorCodes.InternalError,
                ["the host agent restarted while the domain was being built"], []), CancellationToken.None);
            return;
        }

        var steps = new StepBuffer(time, coalesceWindow, (done, c) => commands.Send(new ReportStart.Steps(vm.Id, work.TaskId, done), c));
        try
        {
            var (domid, vbds, vifs) = await BuildAsync(vm, work, steps, ct);
            await reports.SubmitAsync(new ReportStart.Started(vm.Id, work.TaskId, work.HostId, domid,
                work.Paused ? VmPowerState.Paused : VmPowerState.Running, vbds, vifs, steps.Take()), commands.Caller, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Whatever went wrong, the start must end: destroy what was built and fail the task.
            var (code, parameters) = e switch
            {
                HypervisorException h => (h.Code, h.Params),
                XapiException x => (x.Code, x.Params),
                OperationCanceledException => (ErrorCodes.TaskCancelled, (IReadOnlyList<string>)[work.TaskId.ToString()]),
                _ => (ErrorCodes.InternalError, (IReadOnlyList<string>)[e.GetType().Name + ": " + e.Message]),
            };
            if (e is not (HypervisorException or XapiException))
            {
                log.LogError(e, "unexpected failure starting VM {Vm} on host {Host}", vm.Id, work.HostId);
            }
            else
            {
                log.LogDebug("start of VM {Vm} on host {Host} failed: {Code}", vm.Id, work.HostId, code);
            }

            await hypervisor.DestroyDomainAsync(vm.Id, CancellationToken.None);
            await commands.Send(new ReportStart.Fail(vm.Id, work.TaskId, work.HostId, code, parameters, steps.Take()), CancellationToken.None);
        }
    }

    private async Task<(long Domid, Dictionary<Guid, string> Vbds, List<Guid> Vifs)> BuildAsync(Vm vm, AgentWork.Start work, StepBuffer steps, CancellationToken ct)
    {
        var task = work.TaskId;
        var batch = session.CreateBatchQuery();
        var vbdQuery = batch.LoadMany<Vbd>().ById(vm.Vbds.Keys.ToArray());
        var vifQuery = batch.LoadMany<Vif>().ById(vm.Vifs.Keys.ToArray());
        var networkQuery = batch.Query<Network>().ToList();
        await batch.Execute(ct);
        var domain = await steps.RunAsync(c => hypervisor.CreateDomainAsync(DomainSpec.FromVm(vm), c),
            (d, at, ms) => new DomainCreated(task, work.HostId, d.Domid, d.MemoryReserved, at, ms), ct);
        await steps.RunAsync(c => hypervisor.BuildDomainAsync(vm.Id, c),
            (b, at, ms) => new DomainBuilt(task, b.Domid, b.Kernel, b.ShadowMib, b.VcpuAffinity, b.VcpuWeight, b.VcpuCap, at, ms), ct);

        // §6.2: with a device model every VBD is attached; without, only non-empty ones. RW before RO (§6.3 step 4a).
        var hasQemu = vm.DomainType == DomainType.Hvm;
        var vbds = (await vbdQuery)
            .Where(v => hasQemu || !v.Empty)
            .OrderBy(v => v.Mode == VbdMode.RW ? 0 : 1)
            .ThenBy(v => DeviceNames.Position(v.Userdevice, controlDomain: true) ?? int.MaxValue)
            .ToList();
        var pluggedVbds = new Dictionary<Guid, string>();
        foreach (var vbd in vbds)
        {
            var plug = await steps.RunAsync(c => hypervisor.PlugVbdAsync(vm.Id, VbdSpec.FromVbd(vbd), c),
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
        if (!work.Paused)
        {
            await steps.RunAsync(async c => { await hypervisor.UnpauseAsync(vm.Id, c); return domain.Domid; },
                (domid, at, ms) => new DomainUnpaused(task, domid, at, ms), ct);
        }

        return (domain.Domid, pluggedVbds, pluggedVifs);
    }
}
