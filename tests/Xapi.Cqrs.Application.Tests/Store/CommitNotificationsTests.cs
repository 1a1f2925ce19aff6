using JasperFx.Events;
using Microsoft.Extensions.Logging.Abstractions;
using Shouldly;
using Xapi.Cqrs.Application.Events;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Application.Tests.Store;

/// <summary>
/// Commits of one process told to another over the test PostgreSQL (LISTEN/NOTIFY): a task finished by one wakes the
/// other's waiters at once, and every commit pulses the other's commit signal; another schema hears nothing.
/// </summary>
public sealed class CommitNotificationsTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private sealed record Process(CommitNotifications Notifications, TaskSignals Tasks, CommitSignal Commits, Task Listening) : IAsyncDisposable
    {
        public static async Task<Process> StartAsync(string schema, CancellationToken ct)
        {
            var (tasks, commits) = (new TaskSignals(), new CommitSignal());
            var notifications = new CommitNotifications(new StoreSettings(TestDatabase.ConnectionString, schema), tasks, commits, TimeProvider.System,
                NullLogger<CommitNotifications>.Instance);
            var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            notifications.Listening += listening.SetResult;
            await notifications.StartAsync(ct);
            return new Process(notifications, tasks, commits, listening.Task);
        }

        public async ValueTask DisposeAsync()
        {
            await Notifications.StopAsync(CancellationToken.None);
            Notifications.Dispose();
        }
    }

    private static IEvent Finished(Guid task) => new Event<TaskSucceeded>(new TaskSucceeded(null, DateTimeOffset.UtcNow)) { StreamId = task };

    [Fact]
    public async Task A_task_finished_by_one_process_wakes_the_others_waiters_and_every_commit_pulses_their_signal()
    {
        var schema = TestDatabase.NewSchema("notify");
        await using var a = await Process.StartAsync(schema, ct);
        await using var b = await Process.StartAsync(schema, ct);
        await using var elsewhere = await Process.StartAsync(TestDatabase.NewSchema("notify"), ct);
        await Task.WhenAll(a.Listening, b.Listening, elsewhere.Listening).WaitAsync(Within, ct);

        var task = Guid.NewGuid();
        var waiting = b.Tasks.Finished(task);
        var unrelated = elsewhere.Tasks.Finished(task);
        var pulse = b.Commits.Next;
        a.Notifications.OnCommitted([Finished(task)]);

        await waiting.WaitAsync(Within, ct);
        await pulse.WaitAsync(Within, ct);
        b.Notifications.Received.ShouldBeGreaterThan(0);

        // A commit that finishes no task still pulses the others' commit signal (event-stream readers look at once)
        var next = b.Commits.Next;
        a.Notifications.OnCommitted([new Event<TaskCancelled>(new TaskCancelled("not a finish of a waited task", DateTimeOffset.UtcNow)) { StreamId = Guid.NewGuid() }]);
        await next.WaitAsync(Within, ct);

        // Only the schema's own channel hears it; a's own listener ignores a's commits
        unrelated.IsCompleted.ShouldBeFalse("another schema is another channel");
        elsewhere.Notifications.Received.ShouldBe(0);
        a.Notifications.Received.ShouldBe(0, "a process's own commits were signalled when it committed");
    }

    [Fact]
    public void Payloads_list_the_finished_tasks_in_chunks_under_postgres_limit()
    {
        CommitNotifications.Payloads([]).ShouldBe([""]);
        var many = Enumerable.Range(0, 450).Select(_ => Guid.NewGuid()).ToList();
        var payloads = CommitNotifications.Payloads([.. many, many[0]]).ToList();
        payloads.Count.ShouldBe(3);
        payloads.ShouldAllBe(p => p.Length < 8000);
        payloads.SelectMany(p => p.Split(',')).Select(Guid.Parse).ShouldBe(many);
        CommitNotifications.ChannelFor("we\"ird").ShouldBe("\"xapi_commits:we\"\"ird\"");
    }
}
