namespace Xapi.Cqrs.Domain;

/// <summary>
/// A refusal decided by the domain: an xapi error code with its parameters in xapi's order,
/// e.g. <c>VM_BAD_POWER_STATE [vm; "halted"; "running"]</c>. The API maps it to problem+json
/// (404 for HANDLE_INVALID, 409 for state refusals). Shape errors are validation failures, not this.
/// </summary>
public sealed class XapiException(string code, params string[] parameters)
    : Exception($"{code} [{string.Join("; ", parameters)}]")
{
    public string Code { get; } = code;

    public IReadOnlyList<string> Params { get; } = parameters;

    public static XapiException HandleInvalid(string objectClass, Guid id) =>
        new(ErrorCodes.HandleInvalid, objectClass, id.ToString());
}

/// <summary>xapi error codes used by this product (wire names, never renamed).</summary>
public static class ErrorCodes
{
    public const string HandleInvalid = "HANDLE_INVALID";
    public const string InvalidValue = "INVALID_VALUE";
    public const string ValueNotSupported = "VALUE_NOT_SUPPORTED";
    public const string InternalError = "INTERNAL_ERROR";

    /// <summary>The backend cannot do what was asked (answered 501: e.g. xenstore on a qemu host).</summary>
    public const string NotImplemented = "NOT_IMPLEMENTED";
    public const string RbacPermissionDenied = "RBAC_PERMISSION_DENIED";
    public const string SessionAuthenticationFailed = "SESSION_AUTHENTICATION_FAILED";
    public const string OperationBlocked = "OPERATION_BLOCKED";
    public const string OperationNotAllowed = "OPERATION_NOT_ALLOWED";
    public const string OtherOperationInProgress = "OTHER_OPERATION_IN_PROGRESS";
    public const string VmBadPowerState = "VM_BAD_POWER_STATE";
    public const string VmIsTemplate = "VM_IS_TEMPLATE";
    public const string VmIsSnapshot = "VM_IS_SNAPSHOT";
    public const string ProvisionOnlyAllowedOnTemplate = "PROVISION_ONLY_ALLOWED_ON_TEMPLATE";
    public const string RevertOnlyAllowedOnSnapshot = "REVERT_ONLY_ALLOWED_ON_SNAPSHOT";
    public const string VmIsImmobile = "VM_IS_IMMOBILE";
    public const string VmIsUsingNestedVirt = "VM_IS_USING_NESTED_VIRT";
    public const string VmSnapshotWithQuiesceNotSupported = "VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED";
    public const string NotSystemDomain = "NOT_SYSTEM_DOMAIN";
    public const string VmNoVcpus = "VM_NO_VCPUS";
    public const string VmTooManyVcpus = "VM_TOO_MANY_VCPUS";
    public const string VmMemorySizeTooLow = "VM_MEMORY_SIZE_TOO_LOW";
    public const string VmDuplicateVbdDevice = "VM_DUPLICATE_VBD_DEVICE";
    public const string VmRequiresSr = "VM_REQUIRES_SR";
    public const string VmRequiresNetwork = "VM_REQUIRES_NETWORK";
    public const string VmHvmRequired = "VM_HVM_REQUIRED";
    public const string MemoryConstraintViolation = "MEMORY_CONSTRAINT_VIOLATION";
    public const string MemoryConstraintViolationOrder = "MEMORY_CONSTRAINT_VIOLATION_ORDER";
    public const string InvalidDevice = "INVALID_DEVICE";
    public const string DeviceAlreadyExists = "DEVICE_ALREADY_EXISTS";
    public const string DeviceAlreadyAttached = "DEVICE_ALREADY_ATTACHED";
    public const string DeviceAlreadyDetached = "DEVICE_ALREADY_DETACHED";
    public const string VmLacksFeature = "VM_LACKS_FEATURE";
    public const string VmMissingPvDrivers = "VM_MISSING_PV_DRIVERS";
    public const string VmFailedShutdownAcknowledgment = "VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT";
    public const string VmShutdownTimeout = "VM_SHUTDOWN_TIMEOUT";
    public const string MacInvalid = "MAC_INVALID";
    public const string VbdCdsMustBeReadonly = "VBD_CDS_MUST_BE_READONLY";
    public const string VbdNotRemovableMedia = "VBD_NOT_REMOVABLE_MEDIA";
    public const string VbdNotUnpluggable = "VBD_NOT_UNPLUGGABLE";
    public const string VbdIsEmpty = "VBD_IS_EMPTY";
    public const string VbdNotEmpty = "VBD_NOT_EMPTY";
    public const string VdiReadonly = "VDI_READONLY";
    public const string VdiInUse = "VDI_IN_USE";
    public const string VdiNotManaged = "VDI_NOT_MANAGED";
    public const string HostDisabled = "HOST_DISABLED";
    public const string HostNotLive = "HOST_NOT_LIVE";
    public const string HostOffline = "HOST_OFFLINE";
    public const string HostEvacuateInProgress = "HOST_EVACUATE_IN_PROGRESS";
    public const string HostNotEnoughFreeMemory = "HOST_NOT_ENOUGH_FREE_MEMORY";
    public const string HostNotEnoughPcpus = "HOST_NOT_ENOUGH_PCPUS";
    public const string NoHostsAvailable = "NO_HOSTS_AVAILABLE";
    public const string TaskCancelled = "TASK_CANCELLED";
    public const string BootloaderFailed = "BOOTLOADER_FAILED";
    public const string FailedToStartEmulator = "FAILED_TO_START_EMULATOR";
}

/// <summary>Object class names as xapi spells them in HANDLE_INVALID and OTHER_OPERATION_IN_PROGRESS.</summary>
public static class ObjectClass
{
    public const string Vm = "VM";
    public const string Host = "host";
    public const string Vbd = "VBD";
    public const string Vif = "VIF";
    public const string Vdi = "VDI";
    public const string Sr = "SR";
    public const string Network = "network";
    public const string Task = "task";
}
