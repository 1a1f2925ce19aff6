using Marten;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The member side of VM.pause, unpause, clean_shutdown, hard_shutdown, clean_reboot and hard_reboot on the VM's resident host,
/// as xenopsd's atoms: ask the guest (clean), destroy the domain, build the next one (reboot, <see cref="DomainBuild"/>),
/// then report the outcome (<see cref="PowerOperationVm"/>). Every step is idempotent, so an operation found open after a
/// restart is simply run again: a domain already gone is a shutdown done; a reboot destroys whatever is left and builds
/// afresh. A clean shutdown the guest does not acknowledge within the operation's deadline fails
/// VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT [vm], and the VM keeps running. Cancellation (a hard shutdown overtaking a clean
/// one) ends the sequence without a report: the overtaking decision has already closed the operation.
/// </summary>
public sealed class PowerSequence(IHypervisor hypervisor, IQuerySession session, AgentCommands commands, TimeProvider time, TimeSpan coalesceWindow,
    TimeSpan deadline, ILogger log)
{
    public async Task RunAsync(Vm vm, Guid hostId, Guid taskId, VmOperation op, CancellationToken ct)
    {
        var steps = new StepBuffer(time, coalesceWindow, (done, c) => commands.Send(new ReportStart.Steps(vm.Id, taskId, done), c));
        var domainGone = false;
        try
        {
            switch (op)
            {
                case VmOperation.Unpause:
                    var paused = hypervisor.FindDomain(vm.Id)?.Domid ?? vm.Domid;
                    await steps.RunAsync(async c => { await hypervisor.UnpauseAsync(vm.Id, c); return paused; },
                        (d, at, ms) => new DomainUnpaused(taskId, d, at, ms), ct);
                    if (vm.Guest is null)
                    {
                        await DomainBuild.ReportGuestAsync(hypervisor, vm.Id, taskId, steps, ct); // first boot of a VM started paused
                    }

                    await commands.Send(new PowerOperationVm.Unpaused(vm.Id, taskId, hostId, steps.Take()), ct);
                    return;
                case VmOperation.Pause:
                    var domid = hypervisor.FindDomain(vm.Id)?.Domid ?? vm.Domid;
                    await steps.RunAsync(async c => { await hypervisor.PauseAsync(vm.Id, c); return domid; },
                        (d, at, ms) => new DomainPaused(taskId, d, at, ms), ct);
                    await commands.Send(new PowerOperationVm.Paused(vm.Id, taskId, hostId, steps.Take()), ct);
                    return;
                case VmOperation.CleanShutdown or VmOperation.HardShutdown:
                    if (op == VmOperation.CleanShutdown && !await RequestAsync(vm, taskId, ShutdownReason.Poweroff, steps, ct))
                    {
                        await commands.Send(new PowerOperationVm.Failed(vm.Id, taskId, hostId, op, ErrorCodes.VmFailedShutdownAcknowledgment,
                            [vm.Id.ToString()], steps.Take(), DomainGone: false), CancellationToken.None);
                        return;
                    }

                    await DestroyAsync(vm, taskId, steps, ct);
                    await commands.Send(new PowerOperationVm.ShutDown(vm.Id, taskId, hostId, op, steps.Take()), ct);
                    return;
                case VmOperation.CleanReboot or VmOperation.HardReboot:
                    if (op == VmOperation.CleanReboot && !await RequestAsync(vm, taskId, ShutdownReason.Reboot, steps, ct))
                    {
                        await commands.Send(new PowerOperationVm.Failed(vm.Id, taskId, hostId, op, ErrorCodes.VmFailedShutdownAcknowledgment,
                            [vm.Id.ToString()], steps.Take(), DomainGone: false), CancellationToken.None);
                        return;
                    }

                    await DestroyAsync(vm, taskId, steps, ct);
                    domainGone = true;
                    var (newDomid, vbds, vifs) = await DomainBuild.RunAsync(hypervisor, session, vm, taskId, hostId, paused: false, steps, ct);
                    await commands.Send(new PowerOperationVm.Rebooted(vm.Id, taskId, hostId, op, newDomid, vbds, vifs, steps.Take()), ct);
                    return;
                default:
                    throw new ArgumentOutOfRangeException(nameof(op), op, "not a power operation of this sequence");
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw; // overtaken, abandoned or shutting down: whoever cancelled owns the outcome
        }
        catch (Exception e)
        {
            var (code, parameters) = e switch
            {
                HypervisorException h => (h.Code, h.Params),
                XapiException x => (x.Code, x.Params),
                _ => (ErrorCodes.InternalError, (IReadOnlyList<string>)[e.GetType().Name + ": " + e.Message]),
            };
            if (e is not (HypervisorException or XapiException))
            {
                log.LogError(e, "unexpected failure of {Operation} of VM {Vm}", op.ToWire(), vm.Id);
            }

            if (domainGone)
            {
                // A reboot whose rebuild failed: what was built goes too, and the VM is Halted (xenopsd shuts it down).
                await hypervisor.DestroyDomainAsync(vm.Id, CancellationToken.None);
            }
            else if (hypervisor.FindDomain(vm.Id) is null)
            {
                domainGone = true; // the hypervisor's truth: no domain (lost with a host restart), so the VM is Halted
            }

            await commands.Send(new PowerOperationVm.Failed(vm.Id, taskId, hostId, op, code, parameters, steps.Take(), domainGone), CancellationToken.None);
        }
    }

    /// <summary>Ask the guest through control/shutdown; true once its domain has shut down, false if it did not acknowledge in time.</summary>
    private async Task<bool> RequestAsync(Vm vm, Guid taskId, ShutdownReason reason, StepBuffer steps, CancellationToken ct)
    {
        var domain = hypervisor.FindDomain(vm.Id);
        if (domain is null || domain.State == DomainStates.Shutdown || domain.Domid != vm.Domid || domain.ActionRequest is not null)
        {
            // Already down (a restart after the acknowledgement, or the guest beat us to it), or not the VM's guest at all:
            // a reboot interrupted by a restart left a next domain, complete or half-built, that no guest answers for.
            return true;
        }

        var acknowledged = await steps.RunAsync(c => hypervisor.ShutdownAsync(vm.Id, reason, deadline, c),
            (ok, at, ms) => ok ? new ShutdownAcknowledged(taskId, domain.Domid, reason.ToWire(), at, ms) : null!, ct);
        return acknowledged;
    }

    private async Task DestroyAsync(Vm vm, Guid taskId, StepBuffer steps, CancellationToken ct)
    {
        if (hypervisor.FindDomain(vm.Id) is not { } domain)
        {
            return; // destroyed before a restart: nothing left to do
        }

        await steps.RunAsync(async c => { await hypervisor.DestroyDomainAsync(vm.Id, c); return domain.Domid; },
            (d, at, ms) => new DomainDestroyed(taskId, d, at, ms), ct);
    }
}
