using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;
using static Xapi.Cqrs.Domain.Vifs.VifOperation;

namespace Xapi.Cqrs.Domain.Vifs;

/// <summary>
/// VIF.plug and VIF.unplug on a running VM (message_forwarding.ml <c>VIF.plug</c>/<c>unplug</c>: <c>with_vif_marked</c>,
/// then <c>forward_vif_op</c>; XAPI.md §2.2), as pure decisions, in the shape of <see cref="Vbds.VbdHotplug"/>: the master
/// marks the VIF and forwards the operation to the VM's host with a task; the host's report sets currently_attached,
/// removes the mark and ends the task.
/// </summary>
public static class VifHotplug
{
    public const string PlugTask = "VIF.plug";
    public const string UnplugTask = "VIF.unplug";

    public static string TaskName(VifOperation op) => op is Plug ? PlugTask : UnplugTask;

    /// <summary>The master side: §2.2 rows 1–6 (<see cref="VifRules.CheckOperation(VifOperation, Vif, Vm, Guid?)"/>), then the mark, the forward and the task.</summary>
    public static Changes Decide(Vm vm, Vif vif, VifOperation op, Guid taskId, string subject, DateTimeOffset now)
    {
        if (op is not (Plug or Unplug))
        {
            throw new ArgumentOutOfRangeException(nameof(op), op, "only plug and unplug are forwarded to the host");
        }

        if (VifRules.CheckOperation(op, vif, vm) is { } refused)
        {
            throw refused;
        }

        var host = vm.ResidentOn ?? throw new XapiException(ErrorCodes.InternalError, $"VM {vm.Id} is {vm.PowerState.ToWire()} but resident on no host");
        return new Changes()
            .Append(StreamKind.Vif, vif.Id,
                new OperationAdded(taskId, op.ToWire(), ObjectClass.Vif),
                new DeviceOperationForwarded(taskId, ObjectClass.Vif, op.ToWire(), vm.Id, host))
            .Start(StreamKind.Task, taskId, new TaskCreated(taskId, TaskName(op), ObjectClass.Vif, vif.Id, subject, now));
    }

    /// <summary>The host plugged the VIF: the step (VifPlugged), currently_attached, the mark removed, the task succeeded.</summary>
    public static Changes Plugged(Vm vm, Vif vif, XapiTask? task, Guid taskId, IHostStep? step, DateTimeOffset now) =>
        Done(vm, vif, task, taskId, Plug, step, attached: true, now);

    /// <summary>The host unplugged the VIF: the step (VifUnplugged), currently_attached cleared, the mark removed, the task succeeded.</summary>
    public static Changes Unplugged(Vm vm, Vif vif, XapiTask? task, Guid taskId, IHostStep? step, DateTimeOffset now) =>
        Done(vm, vif, task, taskId, Unplug, step, attached: false, now);

    /// <summary>The host could not do it: the mark removed, the task failed with xapi's error; with the mark already cleared, only the task ends.</summary>
    public static Changes Failed(Vif vif, XapiTask? task, Guid taskId, string code, IReadOnlyList<string> parameters, DateTimeOffset now)
    {
        var marked = vif.CurrentOperations.TryGetValue(taskId, out var op);
        if (!marked && task is not { IsFinished: false })
        {
            return Changes.None;
        }

        var changes = new Changes();
        if (marked)
        {
            changes.Append(StreamKind.Vif, vif.Id, new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vif));
        }

        return changes.Append(StreamKind.Task, taskId, new TaskFailed([code, .. parameters], now));
    }

    /// <summary>
    /// The task is pending but its mark is gone (a move to Halted cleared it, §1.7): the task fails with what §2.2 now
    /// says of the operation (VM_BAD_POWER_STATE after a halt), INTERNAL_ERROR if nothing refuses it.
    /// </summary>
    public static Changes Interrupted(Vm vm, Vif vif, XapiTask? task, Guid taskId, VifOperation op, DateTimeOffset now)
    {
        if (task is not { IsFinished: false } || IsMarked(vif, taskId, op))
        {
            return Changes.None;
        }

        var why = VifRules.CheckOperation(op, vif, vm)
            ?? new XapiException(ErrorCodes.InternalError, $"the {TaskName(op)} of VIF {vif.Id} was interrupted before the host did it");
        return Failed(vif, task, taskId, why.Code, why.Params, now);
    }

    /// <summary>
    /// The operation was open past its deadline and its work was stopped: OperationAbandoned on the VIF, then finished
    /// (the device is as the operation wanted) or rolled back (failed, INTERNAL_ERROR ["&lt;op&gt; abandoned: …"]), as
    /// <see cref="Vbds.VbdHotplug.Abandoned"/>.
    /// </summary>
    public static Changes Abandoned(Vm vm, Vif vif, XapiTask? task, Guid taskId, TimeSpan deadline, bool plugged, DateTimeOffset now)
    {
        if (!vif.CurrentOperations.TryGetValue(taskId, out var op) || op is not (Plug or Unplug))
        {
            return Changes.None;
        }

        var finished = plugged == (op is Plug);
        var abandoned = new Changes().Append(StreamKind.Vif, vif.Id, new OperationAbandoned(taskId, op.ToWire(), deadline, finished ? "finished" : "rolled back"));
        return abandoned.Merge(finished
            ? Done(vm, vif, task, taskId, op, null, attached: op is Plug, now)
            : Failed(vif, task, taskId, ErrorCodes.InternalError, [$"{op.ToWire()} abandoned: open past its deadline of {deadline:c}"], now));
    }

    private static Changes Done(Vm vm, Vif vif, XapiTask? task, Guid taskId, VifOperation op, IHostStep? step, bool attached, DateTimeOffset now)
    {
        if (!IsMarked(vif, taskId, op))
        {
            return Interrupted(vm, vif, task, taskId, op, now);
        }

        return new Changes()
            .Append(StreamKind.Vif, vif.Id, step is null ? [] : [step])
            .Append(StreamKind.Vif, vif.Id, new VifCurrentlyAttachedSet(attached), new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vif))
            .Append(StreamKind.Task, taskId, new TaskSucceeded(null, now));
    }

    private static bool IsMarked(Vif vif, Guid taskId, VifOperation op) => vif.CurrentOperations.TryGetValue(taskId, out var marked) && marked == op;
}
