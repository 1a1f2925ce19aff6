using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// An operation open past its deadline (Xapi:Deadlines), ended by its owner, the agent of the VM's host, from the
/// hypervisor's truth: <see cref="OperationAbandoned"/> first, then either the operation finished (a shutdown whose
/// domain is already gone) or rolled back (a start undone as on failure; any other operation's mark removed and its
/// task failed). Never silently dropped.
/// </summary>
public static class AbandonOperation
{
    public sealed record Command(Guid VmId, Guid TaskId, Guid? HostId, TimeSpan Deadline, bool DomainGone) : IRequest<Unit>;

    public sealed class Handler(IDocumentSession session, TimeProvider time) : IRequestHandler<Command, Unit>
    {
        public async Task<Unit> Handle(Command c, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [c.VmId], ct, hostIds: c.HostId is { } h ? [h] : []);
            var devices = set.DevicesOf(c.VmId);
            if (PowerOperations.OpenOperation(devices.Vm, c.TaskId) is not { } op)
            {
                return Unit.Value;
            }

            var now = time.GetUtcNow();
            var host = set.HostOf(c.HostId);
            string[] error = [ErrorCodes.InternalError, $"{op.ToWire()} abandoned: open past its deadline of {c.Deadline:c}"];
            var finished = c.DomainGone && op is VmOperation.CleanShutdown or VmOperation.HardShutdown;
            var abandoned = new Changes().Append(StreamKind.Vm, c.VmId, new OperationAbandoned(c.TaskId, op.ToWire(), c.Deadline, finished ? "finished" : "rolled back"));
            var outcome = op switch
            {
                VmOperation.Start or VmOperation.StartOn => StartReports.Fail(devices, host, c.TaskId, error[0], error[1..], [], now),
                _ when finished => PowerOperations.ShutDown(devices, host, op, c.TaskId, [], Guid.NewGuid(), now),
                _ => PowerOperations.Failed(devices, host, op, c.TaskId, error[0], error[1..], [], c.DomainGone, now),
            };
            await session.AppendAsync(abandoned.Merge(outcome), set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }
    }
}
