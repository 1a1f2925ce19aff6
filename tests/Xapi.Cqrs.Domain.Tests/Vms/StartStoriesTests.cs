using Shouldly;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>
/// Explain's stories (<see cref="StartStories.Tell"/>): Given the events a start wrote (from the real decisions, as in
/// <see cref="StartedVm"/>), When told, Then one story per start attempt with its request, placement, steps and outcome.
/// </summary>
public class StartStoriesTests
{
    private static IHostStep[] Steps(Guid task) =>
        [new DomainCreated(task, Guid.Empty, StartedVm.Domid, 1036.MiB(), A.Now.AddSeconds(1), 12.5), new DomainBuilt(task, StartedVm.Domid, "", 9, "", 256, 0, A.Now.AddSeconds(2), 3)];

    /// <summary>The written events as the log holds them: a sequence each, stamped with who and which correlation.</summary>
    private static IEnumerable<RecordedEvent> Logged(IEnumerable<Written> history, string actor = "alice", string correlation = "corr-1") =>
        history.Select((w, i) => new RecordedEvent(i + 1, w.Stream, Name(w.Event), A.Now.AddMilliseconds(i), actor, correlation, w.Event));

    private static string Name(object e) => string.Concat(e.GetType().Name.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    [Fact]
    public void Completed_start_is_told_with_its_request_placement_steps_outcome_and_a_reproduced_replay()
    {
        var started = StartedVm.Start();
        var resident = started.Apply(started.ReportResident(Steps(started.Task)));
        var done = resident.Apply(resident.ReportComplete());

        var story = StartStories.Tell(started.Vm.Id, Logged(done.History)).ShouldHaveSingleItem();

        (story.TaskId, story.Operation, story.Subject, story.CorrelationId, story.RequestedHost, story.Paused)
            .ShouldBe((started.Task, "start", "alice", "corr-1", (Guid?)null, false));
        story.RequestedAt.ShouldBe(A.Now);
        var choice = story.Choice.ShouldNotBeNull();
        choice.HostId.ShouldBe(started.Host.Id);
        choice.Candidates.ShouldHaveSingleItem().Definite.ShouldNotBeNull().ShouldBeGreaterThan(0);
        story.Steps.ShouldBe([new StartStep("domain_created", A.Now.AddSeconds(1), 12.5), new StartStep("domain_built", A.Now.AddSeconds(2), 3)]);
        story.Outcome.Status.ShouldBe(StartOutcomes.Running);
        story.Outcome.Code.ShouldBeNull();
        story.Outcome.At.ShouldNotBeNull();
        (story.Replay.Replayed, story.Replay.Reproduced, story.Replay.HostId).ShouldBe((true, true, started.Host.Id));
    }

    [Fact]
    public void Failed_host_side_start_is_told_with_the_steps_up_to_the_failure_and_its_code()
    {
        var started = StartedVm.Start();
        var failed = started.Apply(started.ReportFail([Steps(started.Task)[0]]));

        var story = StartStories.Tell(started.Vm.Id, Logged(failed.History)).ShouldHaveSingleItem();

        story.Steps.Select(s => s.Type).ShouldBe(["domain_created"]);
        (story.Outcome.Status, story.Outcome.Code).ShouldBe((StartOutcomes.Failed, ErrorCodes.BootloaderFailed));
        story.Outcome.Params.ShouldBe([started.Vm.Id.ToString(), "no kernel"]);
        story.Replay.Reproduced.ShouldBeTrue();
    }

    [Fact]
    public void Start_not_yet_reported_is_pending()
    {
        var started = StartedVm.Start();

        var story = StartStories.Tell(started.Vm.Id, Logged(started.History)).ShouldHaveSingleItem();

        story.Outcome.ShouldBe(new StartOutcome(StartOutcomes.Pending, null, [], null));
        story.Steps.ShouldBeEmpty();
    }

    [Fact]
    public void Start_resident_paused_is_told_paused()
    {
        var started = StartedVm.Start();
        var paused = started.Apply(StartReports.Resident(started.Devices, started.Host, started.Task, StartedVm.Domid, VmPowerState.Paused,
            started.PluggedVbds, started.PluggedVifs, [], A.Now));

        StartStories.Tell(started.Vm.Id, Logged(paused.History)).ShouldHaveSingleItem().Outcome.Status.ShouldBe(StartOutcomes.Paused);
    }

    [Fact]
    public void Refused_start_is_its_own_story_without_placement_and_after_the_start_before_it()
    {
        // Given a start that completed, then a second start of the now Running VM, refused by the real decision.
        var started = StartedVm.Start();
        var done = started.Completed();
        var again = StartDecision.Decide(done.Devices, A.Start(), A.Pool(done.Host));
        again.Accepted.ShouldBeFalse();
        var history = done.Apply(again.Changes).History;

        var stories = StartStories.Tell(started.Vm.Id, Logged(history));

        stories.Select(s => s.TaskId).ShouldBe([started.Task, again.Request.TaskId]);
        var refused = stories[1];
        refused.Choice.ShouldBeNull();
        refused.Steps.ShouldBeEmpty();
        (refused.Outcome.Status, refused.Outcome.Code).ShouldBe((StartOutcomes.Failed, ErrorCodes.VmBadPowerState));
        refused.Outcome.Params.ShouldBe([started.Vm.Id.ToString(), "halted", "running"]);
        (refused.Replay.Replayed, refused.Replay.Reproduced, refused.Replay.HostId).ShouldBe((false, false, (Guid?)null));
        refused.Replay.Note.ShouldContain("refused before placement (VM_BAD_POWER_STATE)");
    }

    [Fact]
    public void Start_on_names_its_requested_host()
    {
        // Given a VM with a disk and a VIF, and a start_on naming the host, paused.
        var vdi = A.Vdi();
        var net = Guid.NewGuid();
        var host = A.Host(srs: [vdi.SrId], networks: [net]);
        var devices = A.Devices(A.Vm(memory: 1.GiB()), [A.Vbd(vdiId: vdi.Id)], [vdi], [A.Vif(networkId: net)]);
        var decision = StartDecision.Decide(devices, A.Start(host: host.Id, paused: true), A.Pool(host));
        decision.Accepted.ShouldBeTrue();
        var history = decision.Changes.Streams.SelectMany(s => s.Events.Select(e => new Written(s.Kind, s.Id, e)));

        var story = StartStories.Tell(devices.Vm.Id, Logged(history)).ShouldHaveSingleItem();

        (story.Operation, story.RequestedHost, story.Paused).ShouldBe(("start_on", (Guid?)host.Id, true));
        story.Choice.ShouldNotBeNull().Category.ShouldBe(PlacementReplay.StartOn);
        story.Replay.Reproduced.ShouldBeTrue();
    }

    [Fact]
    public void Cancelled_task_makes_the_start_cancelled_and_other_tasks_events_are_not_its_steps()
    {
        var started = StartedVm.Start();
        var other = Guid.NewGuid();
        var history = started.History
            .Add(new Written(StreamKind.Vm, started.Vm.Id, new DomainPaused(other, StartedVm.Domid, A.Now, 1)))
            .Add(new Written(StreamKind.Task, started.Task, new TaskCancelled("overtaken", A.Now)));

        var story = StartStories.Tell(started.Vm.Id, Logged(history)).ShouldHaveSingleItem();

        story.Steps.ShouldBeEmpty();
        (story.Outcome.Status, story.Outcome.Code).ShouldBe((StartOutcomes.Cancelled, ErrorCodes.TaskCancelled));
    }

    [Fact]
    public void Vm_never_started_has_no_stories()
    {
        var vm = A.Vm();
        StartStories.Tell(vm.Id, [new RecordedEvent(1, vm.Id, "vm_created", A.Now, "alice", "c", A.VmCreated())]).ShouldBeEmpty();
    }
}
