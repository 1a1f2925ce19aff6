using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;
using static Xapi.Cqrs.Domain.Vbds.VbdOperation;

namespace Xapi.Cqrs.Domain.Vbds;

/// <summary>
/// VBD.plug and VBD.unplug on a running VM (message_forwarding.ml <c>VBD.plug</c>/<c>unplug</c>: <c>with_vbd_marked</c>,
/// then <c>forward_vbd_op</c> to the VM's host; xapi_vbd.ml <c>plug</c>; XAPI.md §2.1), as pure decisions. The master
/// checks §2.1 and marks the VBD (OperationAdded + <see cref="DeviceOperationForwarded"/> on its stream, a plug also
/// holding its VDI, §2.1 row 13) with a task; the agent of the VM's host plugs or unplugs the device and reports, and
/// the report sets currently_attached, removes the mark and ends the task. A report for a task already ended decides
/// nothing; one whose mark was cleared meanwhile (the VM halted, §1.7) only ends the task.
/// </summary>
public static class VbdHotplug
{
    public const string PlugTask = "VBD.plug";
    public const string UnplugTask = "VBD.unplug";

    /// <summary>xapi_vbd.ml <c>plug</c>: a read-only disk cannot be plugged into an HVM guest with qemu (XAPI.md §2.1).</summary>
    public const string DiskVbdMustBeReadwriteForHvm = "DISK_VBD_MUST_BE_READWRITE_FOR_HVM";

    public static string TaskName(VbdOperation op) => op is Plug ? PlugTask : UnplugTask;

    /// <summary>
    /// The master side of a plug or unplug: §2.1 rows 1–14 for the operation (<see cref="VbdRules.CheckOperation(VbdOperation, Vbd, Vm, Vdi?, Guid?)"/>),
    /// then for a plug DISK_VBD_MUST_BE_READWRITE_FOR_HVM [vbd] (a non-CD RO VBD into a running HVM VM); accepted:
    /// the mark and the forward to the VM's host on the VBD, the VDI held (plug), the task. <paramref name="thenDestroy"/>:
    /// the unplug's report destroys the VBD too (DetachVbd).
    /// </summary>
    public static Changes Decide(Vm vm, Vbd vbd, Vdi? vdi, VbdOperation op, Guid taskId, string subject, DateTimeOffset now, bool thenDestroy = false)
    {
        if (op is not (Plug or Unplug))
        {
            throw new ArgumentOutOfRangeException(nameof(op), op, "only plug and unplug are forwarded to the host");
        }

        if (VbdRules.CheckOperation(op, vbd, vm, vdi) is { } refused)
        {
            throw refused;
        }

        if (op is Plug && HotplugSupport.Applies(vm) && vbd is { Type: not VbdType.CD, Mode: VbdMode.RO })
        {
            throw new XapiException(DiskVbdMustBeReadwriteForHvm, vbd.Id.ToString());
        }

        var host = vm.ResidentOn ?? throw new XapiException(ErrorCodes.InternalError, $"VM {vm.Id} is {vm.PowerState.ToWire()} but resident on no host");
        var changes = new Changes().Append(StreamKind.Vbd, vbd.Id,
            new OperationAdded(taskId, op.ToWire(), ObjectClass.Vbd),
            new DeviceOperationForwarded(taskId, ObjectClass.Vbd, op.ToWire(), vm.Id, host, thenDestroy && op is Unplug));
        if (op is Plug && !vbd.Empty && vdi is not null)
        {
            changes.Append(StreamKind.Vdi, vdi.Id, new VdiHeld(vbd.Id, vm.Id, vbd.Mode == VbdMode.RW, taskId));
        }

        return changes.Start(StreamKind.Task, taskId, new TaskCreated(taskId, TaskName(op), ObjectClass.Vbd, vbd.Id, subject, now));
    }

    /// <summary>
    /// The host plugged the device as <paramref name="device"/> (e.g. xvdb): the step kept for the history,
    /// currently_attached set with the device name, the mark removed, the task succeeded.
    /// </summary>
    public static Changes Plugged(Vm vm, Vbd vbd, Vdi? vdi, XapiTask? task, Guid taskId, string device, IHostStep? step, DateTimeOffset now)
    {
        if (!IsMarked(vbd, taskId, Plug))
        {
            return Interrupted(vm, vbd, vdi, task, taskId, Plug, now);
        }

        return new Changes()
            .Append(StreamKind.Vbd, vbd.Id, step is null ? [] : [step])
            .Append(StreamKind.Vbd, vbd.Id, new VbdCurrentlyAttachedSet(true, device), new OperationRemoved(taskId, Plug.ToWire(), ObjectClass.Vbd))
            .Append(StreamKind.Task, taskId, new TaskSucceeded(null, now));
    }

    /// <summary>
    /// The host unplugged the device: the step, currently_attached cleared, the VDI released, the mark removed; for a
    /// DetachVbd the VBD destroyed in the same commit; the task succeeded.
    /// </summary>
    public static Changes Unplugged(Vm vm, Vbd vbd, Vdi? vdi, XapiTask? task, Guid taskId, IHostStep? step, DateTimeOffset now)
    {
        if (!IsMarked(vbd, taskId, Unplug))
        {
            return Interrupted(vm, vbd, vdi, task, taskId, Unplug, now);
        }

        var changes = new Changes()
            .Append(StreamKind.Vbd, vbd.Id, step is null ? [] : [step])
            .Append(StreamKind.Vbd, vbd.Id, new VbdCurrentlyAttachedSet(false, vbd.Device), new OperationRemoved(taskId, Unplug.ToWire(), ObjectClass.Vbd));
        Release(changes, vbd, vdi);
        if (vbd.DetachTaskId == taskId)
        {
            VbdDestroy.Destroy(changes, vm, vbd, vdi, VbdDestroy.Detached);
        }

        return changes.Append(StreamKind.Task, taskId, new TaskSucceeded(null, now));
    }

    /// <summary>
    /// The host could not do it (nothing of the device is left half-done on the host): the mark removed, a plug's
    /// VDI hold given back, a VBD created by this task's attach destroyed again, the task failed with xapi's error.
    /// With the mark already cleared (the VM halted meanwhile) only the task ends, and an attach's VBD still goes.
    /// </summary>
    public static Changes Failed(Vm vm, Vbd vbd, Vdi? vdi, XapiTask? task, Guid taskId, string code, IReadOnlyList<string> parameters, DateTimeOffset now)
    {
        var marked = vbd.CurrentOperations.TryGetValue(taskId, out var op);
        if (!marked && task is not { IsFinished: false })
        {
            return Changes.None;
        }

        var changes = new Changes();
        if (marked)
        {
            changes.Append(StreamKind.Vbd, vbd.Id, new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vbd));
            if (op is Plug && !vbd.CurrentlyAttached)
            {
                Release(changes, vbd, vdi);
            }
        }

        var others = vbd.CurrentOperations.Keys.Any(t => t != taskId);
        if (vbd.AttachTaskId == taskId && !vbd.CurrentlyAttached && !vbd.Reserved && !others && !vbd.Destroyed)
        {
            VbdDestroy.Destroy(changes, vm, vbd, vdi, VbdDestroy.AttachFailed);
        }

        return changes.Append(StreamKind.Task, taskId, new TaskFailed([code, .. parameters], now));
    }

    /// <summary>
    /// The task is still pending but its mark is gone: something cleared it before the host did the work (a move to
    /// Halted clears every device operation, §1.7). The task fails with what §2.1 now says of the operation
    /// (VM_BAD_POWER_STATE [vm; "running"; "halted"] after a halt), INTERNAL_ERROR if nothing refuses it.
    /// </summary>
    public static Changes Interrupted(Vm vm, Vbd vbd, Vdi? vdi, XapiTask? task, Guid taskId, VbdOperation op, DateTimeOffset now)
    {
        if (task is not { IsFinished: false } || IsMarked(vbd, taskId, op))
        {
            return Changes.None;
        }

        var why = VbdRules.CheckOperation(op, vbd, vm, vdi)
            ?? new XapiException(ErrorCodes.InternalError, $"the {TaskName(op)} of VBD {vbd.Id} was interrupted before the host did it");
        return Failed(vm, vbd, vdi, task, taskId, why.Code, why.Params, now);
    }

    /// <summary>
    /// The operation was open past its deadline (Xapi:Deadlines, 5 min unless configured) and its work was stopped; the
    /// agent of the VM's host ends it from the hypervisor's truth: OperationAbandoned on the VBD, then, if the device is as
    /// the operation wanted (<paramref name="plugged"/>), the operation finished as done; otherwise rolled back, as a
    /// failure with INTERNAL_ERROR ["&lt;op&gt; abandoned: open past its deadline of &lt;deadline&gt;"]. Nothing when not open.
    /// </summary>
    public static Changes Abandoned(Vm vm, Vbd vbd, Vdi? vdi, XapiTask? task, Guid taskId, TimeSpan deadline, bool plugged, string device, DateTimeOffset now)
    {
        if (!vbd.CurrentOperations.TryGetValue(taskId, out var op) || op is not (Plug or Unplug))
        {
            return Changes.None;
        }

        var finished = plugged == (op is Plug);
        var abandoned = new Changes().Append(StreamKind.Vbd, vbd.Id, new OperationAbandoned(taskId, op.ToWire(), deadline, finished ? "finished" : "rolled back"));
        return abandoned.Merge((finished, op) switch
        {
            (true, Plug) => Plugged(vm, vbd, vdi, task, taskId, device, null, now),
            (true, _) => Unplugged(vm, vbd, vdi, task, taskId, null, now),
            _ => Failed(vm, vbd, vdi, task, taskId, ErrorCodes.InternalError, [$"{op.ToWire()} abandoned: open past its deadline of {deadline:c}"], now),
        });
    }

    private static bool IsMarked(Vbd vbd, Guid taskId, VbdOperation op) => vbd.CurrentOperations.TryGetValue(taskId, out var marked) && marked == op;

    /// <summary>The VDI no longer held by this VBD (§2.1 row 13), unless <paramref name="changes"/> already gave it back.</summary>
    internal static void Release(Changes changes, Vbd vbd, Vdi? vdi)
    {
        if (vdi is not null && changes.Fold(vdi.Id, vdi, (s, e) => s.Evolve(e)).Holders.ContainsKey(vbd.Id))
        {
            changes.Append(StreamKind.Vdi, vdi.Id, new VdiReleased(vbd.Id));
        }
    }
}
