using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Tasks;

/// <summary>A task tracks one asynchronous operation, e.g. "VM.start" on a VM.</summary>
public sealed record TaskCreated(Guid TaskId, string Name, string ObjectClass, Guid ObjectId, string Subject, DateTimeOffset CreatedAt);

public sealed record TaskProgressed(double Progress, string Step);

public sealed record TaskSucceeded(string? Result, DateTimeOffset FinishedAt);

public sealed record TaskFailed(ImmutableArray<string> ErrorInfo, DateTimeOffset FinishedAt);

/// <summary>The task was cancelled (e.g. a clean shutdown overtaken by a hard shutdown, §1.3): error TASK_CANCELLED [task].</summary>
public sealed record TaskCancelled(string Reason, DateTimeOffset FinishedAt);

/// <summary>How far a pending task has come: derived from the host-side step events of the object it drives.</summary>
public sealed record TaskStep(Guid TaskId, double Progress, string Name);
