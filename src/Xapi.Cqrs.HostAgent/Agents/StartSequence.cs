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

        if (work.Recovered && existing is { ActionRequest: null, Built: true } && existing.State is DomainStates.Running or DomainStates.Paused)
        {
            // The domain was completed (made survivable) before the restart but its success was not recorded: adopt it,
            // as xenopsd's resync does, instead of destroying a running guest.
            await AdoptAsync(vm, work, existing, ct);
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
            var (domid, vbds, vifs) = await DomainBuild.RunAsync(hypervisor, session, vm, work.TaskId, work.HostId, work.Paused, steps, ct);
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

    /// <summary>
    /// Reports a complete domain found after a restart as the start's result: its domid and power state, the devices it
    /// has plugged (named as their committed VbdPlugged steps say, else as the hypervisor names a disk position).
    /// </summary>
    private async Task AdoptAsync(Vm vm, AgentWork.Start work, DomainInfo domain, CancellationToken ct)
    {
        var named = (await session.Events.FetchStreamAsync(vm.Id, token: ct)).Select(e => e.Data).OfType<VbdPlugged>()
            .Where(p => p.TaskId == work.TaskId).ToDictionary(p => p.VbdId, p => p.Device);
        var vbds = await session.LoadManyAsync<Vbd>(ct, domain.Vbds);
        var plugged = vbds.ToDictionary(v => v.Id, v => named.TryGetValue(v.Id, out var device) ? device
            : DeviceNames.GuestName(DeviceNames.Position(v.Userdevice, controlDomain: true) ?? 0, vm.DomainType == DomainType.Hvm));
        if (!work.Paused && domain.State == DomainStates.Paused)
        {
            await hypervisor.UnpauseAsync(vm.Id, ct); // the restart came between the marker's removal and the unpause
        }

        var steps = new StepBuffer(time, TimeSpan.FromDays(1), (_, _) => Task.CompletedTask); // taken whole into the report below
        if (!work.Paused)
        {
            await DomainBuild.ReportGuestAsync(hypervisor, vm.Id, work.TaskId, steps, ct);
        }

        log.LogInformation("start {Task} of VM {Vm}: adopting domain {Domid}, completed before a restart", work.TaskId, vm.Id, domain.Domid);
        await reports.SubmitAsync(new ReportStart.Started(vm.Id, work.TaskId, work.HostId, domain.Domid,
            work.Paused ? VmPowerState.Paused : VmPowerState.Running, plugged, [.. domain.Vifs], steps.Take()), commands.Caller, ct);
    }
}
