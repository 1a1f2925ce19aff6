using System.Collections.Concurrent;
using System.Text.Json;
using FluentValidation;
using Marten;
using MediatR;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Projections;

namespace Xapi.Cqrs.Application.Admin;

/// <summary>
/// GET /api/admin/projections and POST /api/admin/projections/{name}/rebuild: every read model with its position, the
/// log's high-water mark, its lag, status and version; and a rebuild without downtime (<see cref="ProjectionRebuilder"/>),
/// run in the background as a task whose progress moves.
/// </summary>
public static class AdminProjections
{
    public const string ObjectClassName = "projection";
    public const string TaskName = "projection.rebuild";

    public sealed record List : IRequest<IReadOnlyList<ProjectionView>>;

    public sealed record ProjectionView(string Name, string Kind, long Position, long HighWaterMark, long Lag, string Status, int Version,
        long Documents, Guid? RebuildTask, double? RebuildProgress);

    public sealed record Rebuild(string Name) : IRequest<Guid>;

    public sealed class RebuildValidator : XapiValidator<Rebuild>
    {
        public RebuildValidator() => RuleFor(c => c.Name).NotEmpty().InvalidValue("name");
    }

    /// <summary>The projection of that name, or HANDLE_INVALID [projection; name].</summary>
    public static ProjectionInfo Find(string name) =>
        XapiProjections.All.FirstOrDefault(p => p.Name == name) ?? throw new XapiException(ErrorCodes.HandleInvalid, ObjectClassName, name);

    public sealed class Handler(IDocumentSession session, IDocumentStore store, StoreSettings settings, Rebuilds rebuilds, CommandContext context, TimeProvider time)
        : IRequestHandler<List, IReadOnlyList<ProjectionView>>, IRequestHandler<Rebuild, Guid>
    {
        public async Task<IReadOnlyList<ProjectionView>> Handle(List request, CancellationToken ct)
        {
            var shards = await store.Advanced.AllProjectionProgress(token: ct);
            var counts = await CountAsync(ct);
            var high = await ProjectionRebuilder.HighestSequenceAsync(settings, ct);
            return [.. XapiProjections.All.Select(p =>
            {
                // An inline projection is written in the transaction that appends its events: always at the head of the log.
                var position = p.Lifecycle == JasperFx.Events.Projections.ProjectionLifecycle.Inline
                    ? high
                    : shards.FirstOrDefault(s => s.ShardName.StartsWith(p.Name + ":", StringComparison.Ordinal))?.Sequence ?? 0;
                var running = rebuilds.Running(p.Name);
                return new ProjectionView(p.Name, p.Lifecycle.ToString().ToLowerInvariant(), position, high, Math.Max(0, high - position),
                    running is not null ? "rebuilding" : "running", p.Version, p.Documents.Sum(d => counts.GetValueOrDefault(ProjectionInfo.TableOf(d))),
                    running?.TaskId, running?.Progress);
            })];
        }

        public async Task<Guid> Handle(Rebuild request, CancellationToken ct)
        {
            var info = Find(request.Name);
            if (rebuilds.Running(info.Name) is { } running)
            {
                throw new XapiException(ErrorCodes.OtherOperationInProgress, ObjectClassName, info.Name, "rebuild", running.TaskId.ToString());
            }

            var taskId = Guid.NewGuid();
            session.Events.StartStream<XapiTask>(taskId, new TaskCreated(taskId, TaskName, ObjectClassName, Guid.Empty, context.Subject, time.GetUtcNow()));
            await session.SaveChangesAsync(ct);
            rebuilds.Start(info, taskId, new EventMetadata(context.Subject, context.CorrelationId, context.CausationId));
            return taskId;
        }

        private async Task<Dictionary<string, long>> CountAsync(CancellationToken ct)
        {
            var tables = XapiProjections.All.SelectMany(p => p.Documents).Select(ProjectionInfo.TableOf).ToArray();
            await using var connection = new NpgsqlConnection(settings.ConnectionString);
            await connection.OpenAsync(ct);
            var sql = string.Join(" union all ", tables.Select(t => $"select '{t}', count(*) from {settings.Schema}.{t}"));
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var counts = new Dictionary<string, long>();
            while (await reader.ReadAsync(ct))
            {
                counts[reader.GetString(0)] = reader.GetInt64(1);
            }

            return counts;
        }
    }

    /// <summary>A rebuild under way in this process.</summary>
    public sealed record Running(Guid TaskId, double Progress);

    /// <summary>
    /// The rebuilds this process runs, one per projection at a time (across service nodes: a PostgreSQL advisory lock per
    /// projection). Each reports to its task: progress as it reads the log, then success with the counts, or failure.
    /// Stopping the service cancels them; a cancelled rebuild leaves the live tables as they were.
    /// </summary>
    public sealed class Rebuilds(ProjectionRebuilder rebuilder, IDocumentStore store, StoreSettings settings, TimeProvider time, ILogger<Rebuilds> log)
        : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<string, Running> running = new();
        private readonly ConcurrentDictionary<Guid, Task> work = new();
        private readonly CancellationTokenSource stopping = new();

        public Running? Running(string name) => running.GetValueOrDefault(name);

        public void Start(ProjectionInfo info, Guid taskId, EventMetadata who)
        {
            if (!running.TryAdd(info.Name, new Running(taskId, 0)))
            {
                throw new XapiException(ErrorCodes.OtherOperationInProgress, ObjectClassName, info.Name, "rebuild", running[info.Name].TaskId.ToString());
            }

            work[taskId] = Task.Run(() => RunAsync(info, taskId, who, stopping.Token));
        }

        private async Task RunAsync(ProjectionInfo info, Guid taskId, EventMetadata who, CancellationToken ct)
        {
            try
            {
                await using var connection = new NpgsqlConnection(settings.ConnectionString);
                await connection.OpenAsync(ct);
                if (!await TryLockAsync(connection, info.Name, ct))
                {
                    await FinishAsync(taskId, who, new TaskFailed([ErrorCodes.OtherOperationInProgress, ObjectClassName, info.Name, "rebuild"], time.GetUtcNow()));
                    return;
                }

                var reported = 0.0;
                var result = await rebuilder.RebuildAsync(info, async (position, high) =>
                {
                    var progress = high == 0 ? 0.99 : Math.Min(0.99, (double)position / high);
                    running[info.Name] = new Running(taskId, progress);
                    if (progress - reported >= 0.01)
                    {
                        reported = progress;
                        await AppendAsync(taskId, who, new TaskProgressed(progress, $"read {position} of {high} events"));
                    }
                }, ct);
                var rate = result.Seconds > 0 ? result.Events / result.Seconds : 0;
                await FinishAsync(taskId, who, new TaskSucceeded(JsonSerializer.Serialize(new
                {
                    documents = result.Documents,
                    events = result.Events,
                    seconds = Math.Round(result.Seconds, 3),
                    eventsPerSecond = Math.Round(rate),
                }, JsonSerializerOptions.Web), time.GetUtcNow()));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                log.LogWarning("Rebuild of {Projection} cancelled: the service is stopping; the live tables are as they were", info.Name);
                await FinishAsync(taskId, who, new TaskCancelled("the service stopped", time.GetUtcNow()));
            }
            catch (Exception e)
            {
                log.LogError(e, "Rebuild of {Projection} failed; the live tables are as they were", info.Name);
                await FinishAsync(taskId, who, new TaskFailed([ErrorCodes.InternalError, e.Message], time.GetUtcNow()));
            }
            finally
            {
                running.TryRemove(info.Name, out _);
                work.TryRemove(taskId, out _);
            }
        }

        private static async Task<bool> TryLockAsync(NpgsqlConnection connection, string name, CancellationToken ct)
        {
            await using var command = new NpgsqlCommand("select pg_try_advisory_lock(hashtext(@key))", connection);
            command.Parameters.AddWithValue("key", "xapi.projection.rebuild:" + name);
            return (bool)(await command.ExecuteScalarAsync(ct))!;
        }

        private async Task AppendAsync(Guid taskId, EventMetadata who, object e)
        {
            await using var session = store.LightweightSession();
            session.CorrelationId = who.CorrelationId;
            session.CausationId = who.CausationId;
            session.SetHeader(ActorSessionFactory.ActorHeader, who.Subject);
            // Locked, and appended at the version locked: in Quick append mode that is what gives the task's read model its version.
            var versions = await session.LockAsync(null, CancellationToken.None, (Domain.Streams.StreamKind.Task, [taskId]));
            session.Events.Append(taskId, e).ExpectedVersionOnServer = versions[taskId];
            await session.SaveChangesAsync(CancellationToken.None);
        }

        private async Task FinishAsync(Guid taskId, EventMetadata who, object e)
        {
            try
            {
                await AppendAsync(taskId, who, e);
            }
            catch (Exception failure)
            {
                log.LogError(failure, "Could not record the end of rebuild task {Task}", taskId);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await stopping.CancelAsync();
            await Task.WhenAll(work.Values.ToArray());
            stopping.Dispose();
        }
    }
}
