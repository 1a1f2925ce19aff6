using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using static Xapi.Cqrs.Domain.Vms.VmOperation;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// The VM power operations after start, as pure decisions: pause, unpause (<see cref="Unpaused"/>), clean and hard shutdown, clean and hard
/// reboot (XAPI.md §1.2, §1.3, §1.7). The master marks the VM and creates the task (<see cref="Begin"/>); the agent of
/// the VM's host drives the hypervisor and reports (<see cref="Paused"/>, <see cref="ShutDown"/>, <see cref="Rebooted"/>,
/// <see cref="Failed"/>). A report for an operation no longer open (delivered twice, cancelled, abandoned) decides nothing.
/// </summary>
public static class PowerOperations
{
    /// <summary>The xapi task name of an operation, e.g. <c>VM.clean_shutdown</c>.</summary>
    public static string TaskName(VmOperation op) => "VM." + op.ToWire();

    /// <summary>
    /// What a hard shutdown or hard reboot cancels first (message_forwarding.ml <c>Forward.VM.cancel</c>): the clean
    /// shutdown/reboot and the other long operations it overtakes (§1.3), and, for a hard shutdown, a hard reboot.
    /// </summary>
    public static bool Overtakes(VmOperation op, VmOperation running) => op switch
    {
        HardShutdown => running is CleanShutdown or CleanReboot or HardReboot or PoolMigrate or CallPlugin or Shutdown or Suspend,
        HardReboot => running is CleanShutdown or CleanReboot or PoolMigrate or CallPlugin or Shutdown or Suspend,
        _ => false,
    };

    /// <summary>
    /// The master side: the checks of §1.4 (the first refusal is thrown), then every operation <paramref name="op"/>
    /// overtakes is cancelled (its mark removed, its task cancelled), then the mark and the task of this one.
    /// </summary>
    public static Changes Begin(Vm vm, VmOperation op, Guid taskId, string subject, DateTimeOffset now)
    {
        VmLifecycle.AssertOperationValid(vm, op);
        var changes = new Changes();
        foreach (var (task, running) in vm.CurrentOperations.Where(kv => Overtakes(op, kv.Value)).OrderBy(kv => kv.Key))
        {
            changes.Append(StreamKind.Vm, vm.Id, new OperationRemoved(task, running.ToWire(), ObjectClass.Vm))
                .Append(StreamKind.Task, task, new TaskCancelled($"overtaken by {op.ToWire()} ({taskId})", now));
        }

        return changes
            .Append(StreamKind.Vm, vm.Id, new OperationAdded(taskId, op.ToWire(), ObjectClass.Vm))
            .Start(StreamKind.Task, taskId, new TaskCreated(taskId, TaskName(op), ObjectClass.Vm, vm.Id, subject, now));
    }

    /// <summary>VM.pause done: the steps, power state Paused, the mark removed, VM_PAUSED, the task succeeded.</summary>
    public static Changes Paused(Vm vm, Host? host, Guid taskId, IReadOnlyList<IHostStep> steps, Guid messageId, DateTimeOffset now) =>
        !IsOpen(vm, taskId, Pause)
            ? Changes.None
            : Ended(new Changes()
                .Append(StreamKind.Vm, vm.Id, steps)
                .Append(StreamKind.Vm, vm.Id, new PowerStateChanged(VmPowerState.Paused, "domain paused")), vm, host, Pause, taskId, MessageNames.VmPaused, "paused", messageId, now);

    /// <summary>VM.unpause done: the steps, power state Running, the mark removed, VM_UNPAUSED, the task succeeded.</summary>
    public static Changes Unpaused(Vm vm, Host? host, Guid taskId, IReadOnlyList<IHostStep> steps, Guid messageId, DateTimeOffset now) =>
        !IsOpen(vm, taskId, Unpause)
            ? Changes.None
            : Ended(new Changes()
                .Append(StreamKind.Vm, vm.Id, steps)
                .Append(StreamKind.Vm, vm.Id, new PowerStateChanged(VmPowerState.Running, "domain unpaused")), vm, host, Unpause, taskId, MessageNames.VmUnpaused, "unpaused", messageId, now);

    /// <summary>
    /// A shutdown (clean or hard) done: the domain is destroyed, the steps recorded, the move to Halted (§1.7,
    /// <see cref="MoveToHalted"/>), the mark removed, one VM_SHUTDOWN message, the task succeeded.
    /// </summary>
    public static Changes ShutDown(VmDevices d, Host? host, VmOperation op, Guid taskId, IReadOnlyList<IHostStep> steps, Guid messageId, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!IsOpen(vm, taskId, op))
        {
            return Changes.None;
        }

        var changes = new Changes()
            .Append(StreamKind.Vm, vm.Id, steps)
            .Merge(MoveToHalted.Decide(d, host, op.ToWire().Replace('_', ' ')));
        return Ended(changes, vm, host, op, taskId, MessageNames.VmShutdown, "shut down", messageId, now);
    }

    /// <summary>
    /// A reboot (clean or hard) done: the old domain destroyed and a new one built on the same host. The steps, the
    /// VM Running there with the new domid, the devices plugged again attached, the mark removed, VM_REBOOTED, the
    /// task succeeded. The host's charge for the VM is unchanged (the VM never left it).
    /// </summary>
    public static Changes Rebooted(VmDevices d, Host host, VmOperation op, Guid taskId, long domid, IReadOnlyDictionary<Guid, string> pluggedVbds,
        IReadOnlyCollection<Guid> pluggedVifs, IReadOnlyList<IHostStep> steps, Guid messageId, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!IsOpen(vm, taskId, op))
        {
            return Changes.None;
        }

        var changes = new Changes()
            .Append(StreamKind.Vm, vm.Id, steps)
            .Append(StreamKind.Vm, vm.Id, new VmRebooted(taskId, host.Id, domid, vm.VcpusAtStartup, now));
        foreach (var vbd in d.Vbds.Where(v => pluggedVbds.ContainsKey(v.Id) && !v.CurrentlyAttached))
        {
            changes.Append(StreamKind.Vbd, vbd.Id, new VbdCurrentlyAttachedSet(true, pluggedVbds[vbd.Id]));
        }

        foreach (var vif in d.Vifs.Where(v => pluggedVifs.Contains(v.Id) && !v.CurrentlyAttached))
        {
            changes.Append(StreamKind.Vif, vif.Id, new VifCurrentlyAttachedSet(true));
        }

        return Ended(changes, vm, host, op, taskId, MessageNames.VmRebooted, "rebooted", messageId, now);
    }

    /// <summary>
    /// The host side failed. The steps are kept for the history, the mark goes and the task fails with the xapi error.
    /// When the domain is gone (<paramref name="domainGone"/>: a reboot whose rebuild failed, or a destroy that had
    /// already happened) the VM also moves to Halted; otherwise it stays as it is.
    /// </summary>
    public static Changes Failed(VmDevices d, Host? host, VmOperation op, Guid taskId, string code, IReadOnlyList<string> parameters,
        IReadOnlyList<IHostStep> steps, bool domainGone, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!IsOpen(vm, taskId, op))
        {
            return Changes.None;
        }

        var changes = new Changes().Append(StreamKind.Vm, vm.Id, steps);
        if (domainGone)
        {
            changes.Merge(MoveToHalted.Decide(d, host, $"{op.ToWire()} failed and the domain is gone"));
        }

        return changes
            .Append(StreamKind.Vm, vm.Id, new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vm))
            .Append(StreamKind.Task, taskId, new TaskFailed([code, .. parameters], now));
    }

    /// <summary>The open operation of this task, if any.</summary>
    public static VmOperation? OpenOperation(Vm vm, Guid taskId) =>
        vm.CurrentOperations.TryGetValue(taskId, out var op) ? op : null;

    private static bool IsOpen(Vm vm, Guid taskId, VmOperation op) => OpenOperation(vm, taskId) == op;

    private static Changes Ended(Changes changes, Vm vm, Host? host, VmOperation op, Guid taskId, string message, string what, Guid messageId, DateTimeOffset now)
    {
        changes.Append(StreamKind.Vm, vm.Id, new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vm));
        if (host is not null)
        {
            changes.Start(StreamKind.Message, messageId, new MessageCreated(messageId, message, 5, ObjectClass.Vm, vm.Id,
                MessageNames.VmBody(what, vm.NameLabel, vm.Id, host.NameLabel, host.Id), now));
        }

        return changes.Append(StreamKind.Task, taskId, new TaskSucceeded(null, now));
    }
}
