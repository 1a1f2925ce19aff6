using System.Globalization;
using System.Threading.Channels;
using JasperFx.Events;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xapi.Cqrs.Application.Events;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Commits of other processes on the same store, told at once: each process (service node or external agent) sends a
/// PostgreSQL <c>NOTIFY</c> after its commits, and listens for the others'. A listener's <see cref="TaskSignals"/> then
/// wakes the synchronous calls waiting on a task another process finished (an external agent's start, or one run by the
/// node holding the in-process agents), and its <see cref="CommitSignal"/> wakes the event-stream readers — instead of
/// their next look a second or more later. Best effort: the read models stay the truth, and the waiters' periodic look
/// stays as the fallback when a notification is lost (a dropped connection; PostgreSQL delivers only to live listeners).
/// </summary>
/// <remarks>
/// The channel is one per schema (<see cref="ChannelFor"/>); the payload lists the tasks the commit finished, comma
/// separated (empty when none), at most <see cref="TasksPerNotification"/> to a notification (PostgreSQL's payload is under
/// 8,000 bytes). Notifications are sent from a queue by this service, never on the committing thread, and coalesced: the
/// commits queued meanwhile go out together. A process ignores its own (it signalled them when it committed).
/// </remarks>
public sealed class CommitNotifications(StoreSettings settings, TaskSignals tasks, CommitSignal commits, TimeProvider time, ILogger<CommitNotifications> log)
    : BackgroundService, ICommitObserver
{
    public const int TasksPerNotification = 200;

    /// <summary>How long the listener waits before it connects again after losing its connection.</summary>
    public static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(1);

    private readonly Channel<IReadOnlyList<Guid>> outgoing = Channel.CreateUnbounded<IReadOnlyList<Guid>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly string channel = ChannelFor(settings.Schema);
    private int senderPid;
    private volatile bool running;
    private long received;

    /// <summary>Notifications of other processes received since start (for tests and diagnostics).</summary>
    public long Received => Interlocked.Read(ref received);

    /// <summary>Raised once the listener listens (again): commits from then on are told.</summary>
    public event Action? Listening;

    /// <summary>The NOTIFY channel of a schema: a quoted identifier, so any schema name is one channel of its own.</summary>
    public static string ChannelFor(string schema) => "\"xapi_commits:" + schema.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public void OnCommitted(IReadOnlyList<IEvent> events)
    {
        if (running)
        {
            outgoing.Writer.TryWrite([.. events.Where(e => e.Data is TaskSucceeded or TaskFailed or TaskCancelled).Select(e => e.StreamId)]);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        running = true;
        return Task.WhenAll(ListenAsync(stoppingToken), SendAsync(stoppingToken));
    }

    /// <summary>The commits of this process, told to the others: one connection kept open, NOTIFY per batch of queued commits.</summary>
    private async Task SendAsync(CancellationToken ct)
    {
        NpgsqlConnection? connection = null;
        try
        {
            while (await outgoing.Reader.WaitToReadAsync(ct))
            {
                var finished = new List<Guid>();
                while (outgoing.Reader.TryRead(out var ids))
                {
                    finished.AddRange(ids);
                }

                try
                {
                    if (connection is null)
                    {
                        connection = new NpgsqlConnection(settings.ConnectionString);
                        await connection.OpenAsync(ct);
                        Volatile.Write(ref senderPid, connection.ProcessID);
                    }

                    foreach (var payload in Payloads(finished))
                    {
                        await using var notify = new NpgsqlCommand($"NOTIFY {channel}, '{payload}'", connection);
                        await notify.ExecuteNonQueryAsync(ct);
                    }
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
                {
                    log.LogDebug(e, "a commit notification was not sent; other processes find the commit by their periodic look");
                    await (connection?.DisposeAsync() ?? ValueTask.CompletedTask);
                    connection = null;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            await (connection?.DisposeAsync() ?? ValueTask.CompletedTask);
        }
    }

    /// <summary>The payloads of one batch: the finished tasks' ids in chunks, or one empty payload (the commit only).</summary>
    public static IEnumerable<string> Payloads(IReadOnlyList<Guid> finished) =>
        finished.Count == 0 ? [""] : finished.Distinct().Chunk(TasksPerNotification).Select(ids => string.Join(',', ids));

    /// <summary>The others' commits: LISTEN on a connection of its own, reconnecting after <see cref="Reconnect"/> when it drops.</summary>
    private async Task ListenAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(settings.ConnectionString);
                await connection.OpenAsync(ct);
                connection.Notification += (_, n) => OnNotification(n);
                await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                Listening?.Invoke();
                commits.OnCommitted([]); // commits may have been missed while not listening: readers look once
                while (true)
                {
                    await connection.WaitAsync(ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException or System.IO.IOException)
            {
                log.LogWarning("the commit listener lost its connection ({Error}); it listens again in {Delay} s (meanwhile other processes' commits are found by the periodic look)",
                    e.Message, Reconnect.TotalSeconds.ToString(CultureInfo.InvariantCulture));
                await Task.Delay(Reconnect, time, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private void OnNotification(NpgsqlNotificationEventArgs n)
    {
        if (n.PID == Volatile.Read(ref senderPid))
        {
            return; // this process's own commit, signalled when it committed
        }

        Interlocked.Increment(ref received);
        foreach (var id in n.Payload.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (Guid.TryParse(id, out var task))
            {
                tasks.Complete(task);
            }
        }

        commits.OnCommitted([]);
    }
}
