using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// VM.unpause (§1.2: Paused only). The master marks the VM; the agent of its host unpauses the domain
/// and reports, and the power state follows what the hypervisor did.
/// </summary>
public static class UnpauseVm
{
    public const string TaskName = "VM.unpause";

    public sealed record Command(Guid VmId) : IRequest<StartVm.Started>;

    public sealed record Done(Guid VmId, Guid TaskId, long Domid) : IRequest<Unit>;

    public sealed record Failed(Guid VmId, Guid TaskId, string Code, IReadOnlyList<string> Params) : IRequest<Unit>;

    public sealed class Handler(IDocumentSession session, CommandContext context, TimeProvider time) :
        IRequestHandler<Command, StartVm.Started>, IRequestHandler<Done, Unit>, IRequestHandler<Failed, Unit>
    {
        public async Task<StartVm.Started> Handle(Command c, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(c.VmId, ObjectClass.Vm, ct);
            VmLifecycle.AssertOperationValid(vm.Aggregate!, VmOperation.Unpause);
            var taskId = Guid.NewGuid();
            session.Events.StartStream<XapiTask>(taskId, new TaskCreated(taskId, TaskName, ObjectClass.Vm, c.VmId, context.Subject, time.GetUtcNow()));
            vm.AppendOne(new OperationAdded(taskId, VmOperation.Unpause.ToWire(), ObjectClass.Vm));
            await session.SaveChangesAsync(ct);
            return new StartVm.Started(taskId, vm.CurrentVersion ?? 0);
        }

        public async Task<Unit> Handle(Done d, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(d.VmId, ObjectClass.Vm, ct);
            vm.AppendMany(
                new DomainUnpaused(d.TaskId, d.Domid),
                new PowerStateChanged(VmPowerState.Running, "domain unpaused"),
                new OperationRemoved(d.TaskId, VmOperation.Unpause.ToWire(), ObjectClass.Vm));
            (await session.WriteAsync<XapiTask>(d.TaskId, ObjectClass.Task, ct)).AppendOne(new TaskSucceeded(null, time.GetUtcNow()));
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(Failed f, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(f.VmId, ObjectClass.Vm, ct);
            vm.AppendOne(new OperationRemoved(f.TaskId, VmOperation.Unpause.ToWire(), ObjectClass.Vm));
            (await session.WriteAsync<XapiTask>(f.TaskId, ObjectClass.Task, ct)).AppendOne(new TaskFailed([f.Code, .. f.Params], time.GetUtcNow()));
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }
    }
}
