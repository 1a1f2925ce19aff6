using JasperFx.Events;
using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Projections;

namespace Xapi.Cqrs.Projections.Tests;

public sealed class StateProjectionTests
{
    private static readonly Guid HostId = Guid.NewGuid();

    private static IEvent E(object data) => new Event<object>(data) { StreamId = HostId };

    [Fact]
    public void Host_projection_starts_from_registration_and_follows_reservations()
    {
        var projection = new HostProjection();
        var vm = Guid.NewGuid();
        var task = Guid.NewGuid();
        var host = projection.Evolve(null, HostId, E(new HostRegistered(HostId, "h", "", 8L << 30, 1L << 30, 4, true, [], [], "simulated", true)));
        host.ShouldNotBeNull();
        host = projection.Evolve(host, HostId, E(new OperationAdded(task, "vm_start", "host")));
        host = projection.Evolve(host, HostId, E(new VmScheduledOnHost(vm, task, new MemoryCharge(1L << 30, 2L << 30, 2L << 30, 20L << 20))));
        host!.CurrentOperations[task].ShouldBe("vm_start");
        host.FreeMemory().ShouldBe((7L << 30) - (1L << 30) - (20L << 20));
        host = projection.Evolve(host, HostId, E(new VmResidentOnHost(vm, task, new MemoryCharge(1L << 30, 2L << 30, 2L << 30, 20L << 20))));
        host!.Scheduled.ShouldBeEmpty();
        host.Resident.Keys.ShouldBe([vm]);
    }

    [Fact]
    public void Events_before_creation_leave_no_state()
    {
        new HostProjection().Evolve(null, HostId, E(new HostEnabled())).ShouldBeNull();
    }
}
