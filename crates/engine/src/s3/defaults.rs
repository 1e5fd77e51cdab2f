//! Bucket and object settings the engine does not keep (versioning, CORS,
//! policies, encryption, ACLs, public access, ownership, lifecycle, website,
//! logging, replication, request payment, Object Lock, acceleration), read
//! as S3 answers them for a bucket created today: Terraform's `aws_s3_bucket`
//! and the SDKs' helpers read them all. Setting them is not implemented.
//!
//! Since 2023 S3 encrypts every new object with SSE-S3 (AES256), blocks
//! public access and enforces bucket-owner ownership (ACLs disabled) by
//! default; the other settings are absent.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::buckets::{bucket, owner};
use super::objects::read_object;
use super::Backend;

/// The owner's FULL_CONTROL grant, the only ACL of a bucket or object whose
/// ACLs are disabled.
fn owner_grants() -> Option<Grants> {
    let o = owner();
    Some(vec![Grant {
        grantee: Some(Grantee {
            display_name: o.display_name.clone(),
            id: o.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }])
}

pub(crate) async fn versioning(
    b: &Backend,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(GetBucketVersioningOutput::default()))
}

pub(crate) async fn cors(
    b: &Backend,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    bucket(b, req.input.bucket).await?;
    Err(s3_error!(
        NoSuchCORSConfiguration,
        "The CORS configuration does not exist"
    ))
}

pub(crate) async fn policy(
    b: &Backend,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    bucket(b, req.input.bucket).await?;
    Err(s3_error!(
        NoSuchBucketPolicy,
        "The bucket policy does not exist"
    ))
}

pub(crate) async fn encryption(
    b: &Backend,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    bucket(b, req.input.bucket).await?;
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: None,
            sse_algorithm: ServerSideEncryption::from_static(ServerSideEncryption::AES256),
        }),
        bucket_key_enabled: Some(false),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
            rules: vec![rule],
        }),
    }))
}

pub(crate) async fn acl(
    b: &Backend,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(GetBucketAclOutput {
        grants: owner_grants(),
        owner: Some(owner()),
    }))
}

pub(crate) async fn object_acl(
    b: &Backend,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    read_object(b, req.input.bucket, req.input.key).await?;
    Ok(S3Response::new(GetObjectAclOutput {
        grants: owner_grants(),
        owner: Some(owner()),
        request_charged: None,
    }))
}

pub(crate) async fn public_access_block(
    b: &Backend,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(true),
            block_public_policy: Some(true),
            ignore_public_acls: Some(true),
            restrict_public_buckets: Some(true),
        }),
    }))
}

pub(crate) async fn ownership_controls(
    b: &Backend,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    bucket(b, req.input.bucket).await?;
    let rule = OwnershipControlsRule {
        object_ownership: ObjectOwnership::from_static(ObjectOwnership::BUCKET_OWNER_ENFORCED),
    };
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls { rules: vec![rule] }),
    }))
}

pub(crate) async fn lifecycle(
    b: &Backend,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    bucket(b, req.input.bucket).await?;
    Err(s3_error!(
        NoSuchLifecycleConfiguration,
        "The lifecycle configuration does not exist"
    ))
}

pub(crate) async fn website(
    b: &Backend,
    req: S3Request<GetBucketWebsiteInput>,
) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
    bucket(b, req.input.bucket).await?;
    Err(s3_error!(
        NoSuchWebsiteConfiguration,
        "The specified bucket does not have a website configuration"
    ))
}

pub(crate) async fn logging(
    b: &Backend,
    req: S3Request<GetBucketLoggingInput>,
) -> S3Result<S3Response<GetBucketLoggingOutput>> {
    bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(GetBucketLoggingOutput::default()))
}

pub(crate) async fn replication(
    b: &Backend,
    req: S3Request<GetBucketReplicationInput>,
) -> S3Result<S3Response<GetBucketReplicationOutput>> {
    bucket(b, req.input.bucket).await?;
    Err(s3_error!(
        ReplicationConfigurationNotFoundError,
        "The replication configuration was not found"
    ))
}

pub(crate) async fn request_payment(
    b: &Backend,
    req: S3Request<GetBucketRequestPaymentInput>,
) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
    bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(GetBucketRequestPaymentOutput {
        payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
    }))
}

pub(crate) async fn object_lock(
    b: &Backend,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    bucket(b, req.input.bucket).await?;
    Err(s3_error!(
        ObjectLockConfigurationNotFoundError,
        "Object Lock configuration does not exist for this bucket"
    ))
}

pub(crate) async fn accelerate(
    b: &Backend,
    req: S3Request<GetBucketAccelerateConfigurationInput>,
) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
    bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(
        GetBucketAccelerateConfigurationOutput::default(),
    ))
}
