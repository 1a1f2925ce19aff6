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
/// unpause unless asked for paused — each step an event — then report residency in one transaction and
/// complete. On any failure: destroy what was built and report StartFailed.
/// </summary>
public sealed class StartSequence(IHypervisor hypervisor, IQuerySession session, AgentCommands commands, ILogger log)
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
            await commands.Send(new StartOnHost.Complete(vm.Id, work.TaskId), ct); // built before a restart, not yet reported
            return;
        }

        if (work.Recovered)
        {
            // Found open after a restart of this agent. A domain still carrying action-request=poweroff was
            // interrupted mid-build: destroy it and fail the start (§6.3). So is a start whose domain is gone.
            var task = await session.LoadAsync<Domain.Tasks.XapiTask>(work.TaskId, ct);
            if (existing is not null || task is { Progress: > 0.1 })
            {
                await hypervisor.DestroyDomainAsync(vm.Id, CancellationToken.None);
                await commands.Send(new StartOnHost.Fail(vm.Id, work.TaskId, work.HostId, ErrorCodes.InternalError,
                    ["the host agent restarted while the domain was being built"]), CancellationToken.None);
                return;
            }
        }

        try
        {
            var (domid, vbds, vifs) = await BuildAsync(vm, work, ct);
            await commands.Send(new StartOnHost.BecomeResident(vm.Id, work.TaskId, work.HostId, domid,
                work.Paused ? VmPowerState.Paused : VmPowerState.Running, vbds, vifs), ct);
            await commands.Send(new StartOnHost.Complete(vm.Id, work.TaskId), ct);
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

            log.LogInformation("start of VM {Vm} on host {Host} failed: {Code}", vm.Id, work.HostId, code);
            await hypervisor.DestroyDomainAsync(vm.Id, CancellationToken.None);
            await commands.Send(new StartOnHost.Fail(vm.Id, work.TaskId, work.HostId, code, parameters), CancellationToken.None);
        }
    }

    private async Task<(long Domid, Dictionary<Guid, string> Vbds, List<Guid> Vifs)> BuildAsync(Vm vm, AgentWork.Start work, CancellationToken ct)
    {
        var task = work.TaskId;
        var spec = DomainSpec.FromVm(vm);
        var domain = await hypervisor.CreateDomainAsync(spec, ct);
        await Step(vm, task, new DomainCreated(task, work.HostId, domain.Domid, domain.MemoryReserved), 0.2, $"domain {domain.Domid} created", ct);

        var built = await hypervisor.BuildDomainAsync(vm.Id, ct);
        await Step(vm, task, new DomainBuilt(task, built.Domid, built.Kernel, built.ShadowMib, built.VcpuAffinity, built.VcpuWeight, built.VcpuCap), 0.3, "domain built", ct);

        // §6.2: with a device model every VBD is attached; without, only non-empty ones. RW before RO (§6.3 step 4a).
        var hasQemu = vm.DomainType == DomainType.Hvm;
        var vbds = (await session.LoadManyAsync<Vbd>(ct, vm.Vbds.Keys))
            .Where(v => hasQemu || !v.Empty)
            .OrderBy(v => v.Mode == VbdMode.RW ? 0 : 1)
            .ThenBy(v => DeviceNames.Position(v.Userdevice, controlDomain: true) ?? int.MaxValue)
            .ToList();
        var pluggedVbds = new Dictionary<Guid, string>();
        foreach (var vbd in vbds)
        {
            var plug = await hypervisor.PlugVbdAsync(vm.Id, VbdSpec.FromVbd(vbd), ct);
            pluggedVbds[vbd.Id] = plug.Device;
            await Step(vm, task, new VbdPlugged(task, vbd.Id, plug.Device, vbd.Mode.ToString()), 0.4, $"VBD {plug.Device} plugged", ct);
        }

        // §6.3 step 4b: VIFs in device order (guests number NICs by xenstore listing order).
        var vifs = (await session.LoadManyAsync<Vif>(ct, vm.Vifs.Keys)).OrderBy(v => long.Parse(v.Device, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var networks = (await session.LoadManyAsync<Network>(ct, vifs.Select(v => v.NetworkId).Distinct())).ToDictionary(n => n.Id);
        var pluggedVifs = new List<Guid>();
        foreach (var vif in vifs)
        {
            var bridge = networks.TryGetValue(vif.NetworkId, out var n) ? n.Bridge : "xenbr0";
            var plug = await hypervisor.PlugVifAsync(vm.Id, VifSpec.FromVif(vif, bridge), ct);
            pluggedVifs.Add(vif.Id);
            await Step(vm, task, new VifPlugged(task, vif.Id, plug.Device, bridge, vif.Mac), 0.6, $"VIF {vif.Device} plugged", ct);
        }

        var model = await hypervisor.CreateDeviceModelAsync(vm.Id, ct);
        await Step(vm, task, new DeviceModelCreated(task, model.Domid, model.Kind, model.VncPort, model.EmulatedNics), 0.7, "device model created", ct);

        await hypervisor.ClearActionRequestAsync(vm.Id, ct);
        if (!work.Paused)
        {
            await hypervisor.UnpauseAsync(vm.Id, ct);
            await Step(vm, task, new DomainUnpaused(task, domain.Domid), 0.8, "domain unpaused", ct);
        }

        return (domain.Domid, pluggedVbds, pluggedVifs);
    }

    private Task Step(Vm vm, Guid task, object e, double progress, string step, CancellationToken ct) =>
        commands.Send(new StartOnHost.RecordStep(vm.Id, task, e, progress, step), ct);
}
