using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// A domain that stopped by itself (the guest powered off, rebooted or crashed), as xenopsd's event thread reports it
/// (XAPI.md §6.3): the VM follows actions_after_shutdown, actions_after_reboot or actions_after_crash. <c>destroy</c>
/// becomes a hard shutdown and <c>restart</c> a hard reboot, each opened by the host agent as a task of its own (so it
/// is reconciled after a restart like any other operation); <c>preserve</c> keeps the domain for inspection and shows
/// the VM Paused. A crash within <see cref="CrashLoopWindow"/> of the VM's start turns a restart into a shutdown.
/// </summary>
public static class GuestStops
{
    /// <summary>xenopsd: a domain that crashes this soon after its start is not restarted again.</summary>
    public static readonly TimeSpan CrashLoopWindow = TimeSpan.FromSeconds(120);

    /// <summary>xenopsd's minimum_reboot_delay for the Xen backend: a reboot sooner than this after the start waits.</summary>
    public static readonly TimeSpan MinimumRebootDelay = TimeSpan.FromSeconds(120);

    public const string Destroy = "destroy";
    public const string Restart = "restart";
    public const string Preserve = "preserve";

    /// <summary>What the VM's actions_after_* make of a stop for <paramref name="reason"/> (poweroff, reboot, crash), and why a restart was turned into a destroy.</summary>
    public static (string Action, string? Converted) ActionFor(Vm vm, string reason, DateTimeOffset now)
    {
        var configured = reason switch
        {
            "poweroff" => vm.ActionsAfterShutdown,
            "reboot" => vm.ActionsAfterReboot,
            _ => vm.ActionsAfterCrash,
        };
        var action = configured switch
        {
            "destroy" or "coredump_and_destroy" => Destroy,
            "preserve" => Preserve,
            _ => Restart, // restart, coredump_and_restart, rename_restart
        };
        if (reason == "crash" && action == Restart && vm.StartTime is { } started && now - started < CrashLoopWindow)
        {
            return (Destroy, $"crashed within {CrashLoopWindow.TotalSeconds:0} s of its start");
        }

        return (action, null);
    }

    /// <summary>True when a reboot this soon after the start must wait (xenopsd delays it 15 s).</summary>
    public static bool RebootTooSoon(Vm vm, DateTimeOffset now) => vm.StartTime is { } started && now - started < MinimumRebootDelay;

    /// <summary>
    /// Whether a stop of domain <paramref name="domid"/> on <paramref name="hostId"/> is the VM's to follow now: the VM runs
    /// (or is paused) there in that domain, has not followed that domain's stop already, and no operation owns it. A stop
    /// reported while an operation owns the VM is not followed then; the host agent reports it again once the operation has
    /// ended (xenopsd's per-VM queue delivers the event after the operation).
    /// </summary>
    public static bool Follows(Vm vm, Guid hostId, long domid) =>
        vm.ResidentOn == hostId && vm.Domid == domid && vm.StoppedDomid != domid && vm.CurrentOperations.IsEmpty
        && vm.PowerState is VmPowerState.Running or VmPowerState.Paused;

    /// <summary>
    /// The decision: nothing when the report is stale (another domain, another host, or an operation owns the VM);
    /// otherwise the stop recorded, VM_CRASHED for a crash, and the follow-up operation marked with its task
    /// (<paramref name="taskId"/>), or for preserve the VM Paused.
    /// </summary>
    public static Changes Decide(Vm vm, Host host, long domid, string reason, Guid taskId, Guid messageId, string subject, DateTimeOffset now)
    {
        if (!Follows(vm, host.Id, domid))
        {
            return Changes.None;
        }

        var (action, converted) = ActionFor(vm, reason, now);
        var changes = new Changes().Append(StreamKind.Vm, vm.Id, new DomainStoppedByItself(taskId, domid, reason, action, converted, now));
        if (reason == "crash")
        {
            changes.Start(StreamKind.Message, messageId, new MessageCreated(messageId, MessageNames.VmCrashed, 2, ObjectClass.Vm, vm.Id,
                MessageNames.VmBody("crashed", vm.NameLabel, vm.Id, host.NameLabel, host.Id), now));
        }

        if (action == Preserve)
        {
            return changes.Append(StreamKind.Vm, vm.Id, new PowerStateChanged(VmPowerState.Paused, $"the guest stopped ({reason}); its domain is preserved"));
        }

        var op = action == Restart ? VmOperation.HardReboot : VmOperation.HardShutdown;
        return changes
            .Append(StreamKind.Vm, vm.Id, new OperationAdded(taskId, op.ToWire(), ObjectClass.Vm))
            .Start(StreamKind.Task, taskId, new TaskCreated(taskId, PowerOperations.TaskName(op), ObjectClass.Vm, vm.Id, subject, now));
    }
}
